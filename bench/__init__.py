"""Benchmarks: DRCD passage retrieval, the domain questions, speed and memory.

Run ``python bench/run.py`` (or ``edubot bench``); see docs/benchmarks.md.
"""
