"""Light helpers of the benchmarks: paths, errors, measured subprocesses.

Imported by the processes that time the common recipe, so it pulls in nothing of
the project's retrieval stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_DRCD = SHARED / "benchmarks" / "drcd"
DEFAULT_EVAL = SHARED / "eval" / "dev.jsonl"
DEFAULT_CORPUS = ROOT / "corpus"
DEFAULT_CACHE = ROOT / ".bench-cache"


class BenchError(RuntimeError):
    """A benchmark that cannot run (missing data, failed process), with what to do about it."""


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float  # wall clock of the measured process
    cpu_seconds: float  # its user + system CPU time
    max_rss_mb: float  # its peak resident memory (ru_maxrss)
    stdout: str
    stderr: str
    returncode: int


def run_measured(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 900) -> Measured:
    """Run ``cmd``: its wall time, CPU time and peak RSS.

    Linux starts a child's ``ru_maxrss`` at its parent's, so a large benchmark
    process would hide the figure it wants to measure. The command therefore runs
    under a small launcher (``python -m bench.procs``) that waits for it with
    ``os.wait4`` and writes that one process's usage to a file.
    """
    with tempfile.TemporaryDirectory(prefix="edubot-measure-") as tmp:
        report = Path(tmp) / "usage.json"
        launcher = [sys.executable, "-m", "bench.procs", str(report), "--", *cmd]
        launcher_env = dict(env if env is not None else os.environ)
        launcher_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), launcher_env.get("PYTHONPATH", "")) if p)
        try:
            done = subprocess.run(launcher, cwd=cwd, env=launcher_env, capture_output=True, timeout=timeout,
                                  start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{' '.join(cmd[:4])} ... took longer than {timeout:.0f} s") from exc
        try:
            usage = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            usage = {"seconds": float("nan"), "cpu_seconds": float("nan"), "max_rss_kb": float("nan")}
        return Measured(usage["seconds"], usage["cpu_seconds"], usage["max_rss_kb"] / 1024,
                        done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"),
                        done.returncode)


def _launch(report: str, cmd: list[str]) -> int:
    """Run ``cmd`` with this process's standard streams; write its usage to ``report``."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    Path(report).write_text(json.dumps({
        "seconds": time.perf_counter() - started,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
    }), encoding="utf-8")
    return code


def setup_logging() -> None:
    """Warnings and errors on stderr; bm25s sets its own logger to DEBUG, so filter at the handler."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from /proc/stat); NaN where unavailable."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return sum(values), values[3] + (values[4] if len(values) > 4 else 0)  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait up to ``max_wait`` seconds for other work to stop; the last busy share seen."""
    deadline = time.perf_counter() + max_wait
    busy = cpu_busy(2.0)
    while busy > threshold and time.perf_counter() < deadline:
        busy = cpu_busy(2.0)
    return busy


def child_env() -> dict[str, str]:
    """Environment for benchmark subprocesses: the repo importable, no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDUBOT_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print("usage: python -m bench.procs REPORT_FILE -- COMMAND ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(_launch(sys.argv[1], sys.argv[3:]))
