"""``edubot bench``: run the benchmark scripts of a source checkout (bench/run.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from .cli import UserError

_RUN = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@click.command()
@click.option("--quick", is_flag=True, help="DRCD dev subset and lighter speed runs (about a minute once cached).")
@click.option("--drcd", type=click.Path(file_okay=False, path_type=Path),
              help="Folder with DRCD_dev.json and DRCD_test.json (default ../shared/benchmarks/drcd).")
@click.option("--eval", "eval_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Domain questions in dev.jsonl format (default ../shared/eval/dev.jsonl).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for benchmarks.md and benchmarks.png (default docs/, or .bench-cache/quick/ with --quick).")
@click.option("--wait-idle", type=float, help="Wait up to this many seconds for the machine to be idle before timing.")
@click.option("--skip", multiple=True, type=click.Choice(["drcd", "domain", "speed"]), help="Leave a section out.")
@click.pass_context
def bench(ctx: click.Context, quick: bool, drcd: Path | None, eval_file: Path | None, out: Path | None,
          wait_idle: float | None, skip: tuple[str, ...]) -> None:
    """Compare retrieval quality and speed with BM25 and the common FAISS recipe.

    Prints the tables and writes docs/benchmarks.md and docs/benchmarks.png.
    Needs the source checkout (bench/) and the bench extra (matplotlib).
    """
    if not _RUN.is_file():
        raise UserError(f"the benchmark scripts are not installed ({_RUN} is missing): run from a source checkout")
    obj = ctx.find_root().obj or {}
    args = [sys.executable, str(_RUN)]
    if quick:
        args.append("--quick")
    for flag, value in (("--drcd", drcd), ("--eval", eval_file), ("--out", out), ("--wait-idle", wait_idle),
                        ("--corpus", obj.get("overrides", {}).get("corpus_dir"))):
        if value is not None:
            args += [flag, str(Path(value).resolve()) if isinstance(value, Path) else str(value)]
    for section in skip:
        args += ["--skip", section]
    code = subprocess.call(args, cwd=_RUN.parents[1])
    if code:
        ctx.exit(code)


COMMANDS = [bench]
