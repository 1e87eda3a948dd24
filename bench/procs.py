"""Light helpers of the benchmarks: paths, errors, measured subprocesses.

Imported by the processes that time the common recipe, so it pulls in nothing of
the project's retrieval stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_DRCD = SHARED / "benchmarks" / "drcd"
DEFAULT_EVAL = SHARED / "eval" / "dev.jsonl"
DEFAULT_CORPUS = ROOT / "corpus"
DEFAULT_CACHE = ROOT / ".bench-cache"


class BenchError(RuntimeError):
    """A benchmark that cannot run (missing data, failed process), with what to do about it."""


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float  # wall clock of the whole process
    max_rss_mb: float  # its peak resident memory (ru_maxrss)
    stdout: str
    stderr: str
    returncode: int


def run_measured(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 900) -> Measured:
    """Run ``cmd``; wall time and the peak RSS of that one process (``os.wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(seconds, usage.ru_maxrss / 1024, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), proc.returncode)


def child_env() -> dict[str, str]:
    """Environment for benchmark subprocesses: the repo importable, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUBOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
