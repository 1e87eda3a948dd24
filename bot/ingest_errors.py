"""Errors and exit codes shared by document ingestion (:mod:`bot.ingest`, :mod:`bot.fetch`, :mod:`bot.extract`).

An :class:`IngestError` carries one line for the user and the exit code a script can
test; :func:`_reason` and :func:`_one_line` keep such lines short.
"""

from __future__ import annotations

import re

# Exit codes a script can test (documented in ``edubot add --help``).
EXIT_OK = 0
EXIT_DATA = 3  # corpus, index or configuration problem (same as bot.cli.EXIT_DATA)
EXIT_NETWORK = 4  # download failed: unreachable, HTTP error, timeout, too large, refused redirect
EXIT_INPUT = 5  # unusable input: unsupported type or scheme, missing file, no text, unknown document


class IngestError(Exception):
    """A source that cannot be added: one line for the user and an exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.message = message
        self.code = code


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text[:limit].rstrip()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return _one_line(text, 160)
