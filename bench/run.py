"""Run the benchmarks, print the tables and write docs/benchmarks.md and docs/benchmarks.png.

    python bench/run.py            # DRCD dev and test, domain questions, speed (several minutes)
    python bench/run.py --quick    # DRCD dev, every 4th question; domain; speed on the bundled corpus

A quick run writes its report to .bench-cache/quick/ so it never replaces the full
numbers in docs/ (pass --out to choose). Embeddings are cached between runs in
.bench-cache/embeddings.sqlite; build times are always measured from an empty cache.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procs import (  # noqa: E402
    DEFAULT_CACHE, DEFAULT_CORPUS, DEFAULT_DRCD, DEFAULT_EVAL, ROOT, BenchError, setup_logging, wait_for_idle,
)

SECTIONS = ("drcd", "domain", "speed")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="DRCD dev only, every 4th question; speed on the bundled corpus only, fewer repeats.")
    ap.add_argument("--drcd", type=Path, default=DEFAULT_DRCD, help="folder with DRCD_dev.json and DRCD_test.json")
    ap.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="domain questions (dev.jsonl format)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the bundled corpus folder")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache folder (default .bench-cache)")
    ap.add_argument("--out", type=Path, help="where benchmarks.md/.png go (default docs/, or .bench-cache/quick/)")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before timing, wait up to SECONDS for other work on the machine to stop")
    ap.add_argument("--skip", action="append", choices=SECTIONS, default=[], help="leave a section out (repeatable)")
    return ap.parse_args(argv)


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "bot"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" with uncommitted changes in bot/" if dirty else "")


def _environment() -> dict[str, str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "commit": _git_commit(), "python": platform.python_version(),
            "cpus": str(os.cpu_count()), "load": load}


def run(args: argparse.Namespace) -> dict:
    from bot.encoders import EmbeddingCache, load_encoder

    from bench.common import CachedEncoder
    from bench.drcd import run_split, split_path
    from bench.domain import run_domain
    from bench.speed import run_speed

    started = time.perf_counter()
    results: dict = {"quick": args.quick, "environment": _environment(), "drcd": {}, "timings": {}}
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    splits = ("dev",) if args.quick else ("dev", "test")
    drcd_paths = {}
    if "drcd" not in args.skip or ("speed" not in args.skip and not args.quick):
        try:
            drcd_paths = {s: split_path(args.drcd, s) for s in splits}
        except BenchError as exc:
            raise BenchError(f"{exc}; or run without DRCD: --quick --skip drcd") from None
    results["headline"] = splits[-1] if "drcd" not in args.skip else None

    def section(name: str, fn) -> None:  # noqa: ANN001
        t = time.perf_counter()
        try:
            fn()
        except BenchError as exc:  # keep the other sections; report what failed
            results.setdefault("errors", {})[name] = str(exc)
            say(f"error in {name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - e.g. the index format changed under a running benchmark
            logging.getLogger("bench").exception("%s failed", name)
            results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        results["timings"][name] = time.perf_counter() - t

    with EmbeddingCache(args.cache / "embeddings.sqlite") as cache:
        encoder = CachedEncoder(load_encoder("use-multilingual"), cache)

        def drcd(split: str) -> None:
            say(f"DRCD {split} ...")
            results.setdefault("busy", {})[f"drcd-{split}"] = wait_for_idle(args.wait_idle)
            with tempfile.TemporaryDirectory(prefix="edubot-drcd-") as tmp:
                res = run_split(drcd_paths[split], encoder, Path(tmp), split=split,
                                questions_every=4 if args.quick else 1,
                                latency_sample=150 if args.quick else 300, progress=True)
            results["drcd"][split] = res.to_json()

        def domain() -> None:
            say("domain questions ...")
            with tempfile.TemporaryDirectory(prefix="edubot-domain-") as tmp:
                results["domain"] = run_domain(args.eval, args.corpus, encoder, Path(tmp)).to_json()

        if "drcd" not in args.skip:
            for split in splits:
                section(f"drcd-{split}", lambda split=split: drcd(split))
        if "domain" not in args.skip:
            section("domain", domain)

    def speed() -> None:
        say("speed and memory (separate processes) ...")
        results["speed"] = {"busy_before": wait_for_idle(args.wait_idle)}
        run_speed(args.corpus, args.eval, None if args.quick else drcd_paths.get("dev"), quick=args.quick,
                  progress=lambda m: say("  " + m), result=results["speed"])

    if "speed" not in args.skip:
        section("speed", speed)
    results["seconds"] = time.perf_counter() - started
    return results


def write(results: dict, out: Path, cache: Path) -> Path:
    from bench.report import chart, markdown

    out.mkdir(parents=True, exist_ok=True)
    try:
        image = "benchmarks.png" if chart(results, out / "benchmarks.png") else None
    except ImportError:
        print("note: no chart: matplotlib is missing (pip install -e '.[bench]')", file=sys.stderr)
        image = None
    doc = out / "benchmarks.md"
    doc.write_text(markdown(results, image), encoding="utf-8")
    cache.mkdir(parents=True, exist_ok=True)
    name = "results-quick.json" if results["quick"] else "results.json"
    (cache / name).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return doc


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    args.out = args.out or (args.cache / "quick" if args.quick else ROOT / "docs")
    try:
        results = run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    from bench.report import markdown

    doc = write(results, args.out, args.cache)
    print(markdown(results, None))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in results["timings"].items())
    print(f"\nwrote {doc} ({results['seconds']:.0f} s: {timings})")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
