"""Command line: build the index, ask, chat, evaluate.

Every command takes ``--corpus DIR`` and ``--index DIR`` so it can point at any folder
of documents; ``edubot COMMAND --help`` explains each one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import ConfigError, Settings, load_settings
from .corpus import CorpusError, load_corpus
from .encoders import EncoderError

EXIT_USAGE = 2
EXIT_DATA = 3  # corpus, index or configuration problem the user can fix


class UserError(click.ClickException):
    """One clear line for the user, no traceback."""

    exit_code = EXIT_DATA

    def __init__(self, message: str, exit_code: int = EXIT_DATA):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    obj = ctx.find_root().obj or {}
    try:
        settings = load_settings(obj.get("config"))
        values = {**obj.get("overrides", {}), **{k: v for k, v in overrides.items() if v is not None}}
        return settings.with_overrides(**values)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _progress_bar() -> Any:
    """A tqdm progress callback for index builds, on stderr."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        label = {"embed": "embedding", "bm25": "BM25 index"}.get(stage, stage)
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=label, unit=" chunks" if stage == "embed" else "",
                                     file=sys.stderr, leave=True, dynamic_ncols=True, disable=None)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return progress


def _open_engine(settings: Settings, build: bool | None = None) -> Any:
    from .engine import Engine
    from .index import IndexUnavailable

    try:
        return Engine.open(settings, build=build, progress=_progress_bar())
    except CorpusError as exc:
        hint = "\n(fix the file, or add --skip-bad before the command to leave it out)" if exc.line else ""
        raise UserError(f"{exc}{hint}") from None
    except (IndexUnavailable, EncoderError) as exc:
        raise UserError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edubot")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file (default: ./edubot.toml or $EDUBOT_CONFIG).")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
              help="Folder of .md/.txt documents (default: ./corpus).")
@click.option("--index", "index_dir", type=click.Path(path_type=Path),
              help="Folder for the built index (default: ./index).")
@click.option("--encoder", help="use-multilingual (bundled, offline) or st:<sentence-transformers model name or path>.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--log-json", is_flag=True, default=None, help="Structured logs: one JSON object per line on stderr.")
@click.option("--skip-bad", "skip_bad", is_flag=True, default=None,
              help="Leave malformed corpus files out (each is reported) instead of stopping.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, corpus_dir: Path | None, index_dir: Path | None,
        encoder: str | None, log_level: str | None, log_json: bool | None, skip_bad: bool | None) -> None:
    """Investor-education Q&A bot over a cited corpus (繁體 / 简体 / English).

    Answers questions about 401(k) plans, ERISA fiduciary duties and the 2025 policy
    shift on alternative assets with quotes and numbered citations, in the asker's
    own script. Not investment advice.

    \b
    Quick start:
      edubot ask "What is Executive Order 14330?"
      edubot chat
    """
    overrides = {"corpus_dir": corpus_dir, "index_dir": index_dir, "encoder": encoder,
                 "log_level": log_level, "log_format": "json" if log_json else None, "skip_bad": skip_bad}
    ctx.obj = {"config": config, "overrides": {k: v for k, v in overrides.items() if v is not None}}
    from .logs import setup_logging

    try:
        s = load_settings(config).with_overrides(**ctx.obj["overrides"])
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    setup_logging(s.log_level, s.log_format)


@cli.command()
@click.option("--chunk-size", type=int, help="Characters per chunk (default 400).")
@click.option("--chunk-overlap", type=int, help="Characters repeated between chunks (default 80).")
@click.option("--faiss", type=click.Choice(["auto", "flat", "hnsw"]), help="Dense index type (auto: flat below 50,000 chunks).")
@click.option("--skip-bad", is_flag=True, help="Skip malformed documents (listed on stderr) instead of stopping.")
@click.pass_context
def build(ctx: click.Context, chunk_size: int | None, chunk_overlap: int | None, faiss: str | None, skip_bad: bool) -> None:
    """Build (or refresh) the index from the corpus folder.

    Only text that changed since the last build is embedded again; the new index
    replaces the old one atomically when it is complete.
    """
    from .chunking import ChunkSettings
    from .encoders import load_encoder
    from .index import IndexUnavailable, build_index
    from .tokens import Tokenizer

    settings = _settings(ctx, chunk_size=chunk_size, chunk_overlap=chunk_overlap, faiss=faiss,
                         skip_bad=True if skip_bad else None)
    try:
        corpus = load_corpus(settings.corpus_dir, strict=not settings.skip_bad)
    except CorpusError as exc:
        raise UserError(f"{exc}\n(fix the file, or run with --skip-bad to build without it)") from None
    for err in corpus.errors:
        click.echo(f"skipped: {err}", err=True)
    try:
        encoder = load_encoder(settings.encoder)
    except EncoderError as exc:
        raise UserError(str(exc)) from None
    try:
        report = build_index(corpus, settings.index_dir, encoder, Tokenizer(),
                             ChunkSettings(settings.chunk_size, settings.chunk_overlap), settings.faiss, _progress_bar())
    except IndexUnavailable as exc:
        raise UserError(str(exc)) from None
    m = report.manifest
    click.echo(f"built {settings.index_dir}: {m.n_documents} documents, {m.n_chunks} chunks, "
               f"{report.embedded} newly embedded, {report.seconds:.1f} s ({m.encoder}, faiss {m.faiss})")


def _print_answer(ans: Any, show_passages: bool) -> None:
    click.echo(ans.text)
    if show_passages and ans.passages:
        click.echo("\n---")
        for p in ans.passages:
            click.echo(f"#{p.rank} {p.score:.3f} {p.doc_id} — {p.section or p.title}\n   {p.text[:160]}")


_LANG_CHOICE = click.Choice(["auto", "zh-Hant", "zh-Hans", "en"])


@cli.command()
@click.argument("question", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: answer, no_answer, lang, passages.")
@click.option("--lang", type=_LANG_CHOICE, default="auto", show_default=True, help="Answer script.")
@click.option("-k", "--top-k", type=click.IntRange(1, 50), help="Passages to retrieve (default 5).")
@click.option("--passages", is_flag=True, help="Also show the retrieved passages.")
@click.option("--no-build", is_flag=True, help="Fail instead of building a missing or stale index.")
@click.pass_context
def ask(ctx: click.Context, question: str, as_json: bool, lang: str, top_k: int | None, passages: bool, no_build: bool) -> None:
    """Answer QUESTION, or answer each line of stdin when QUESTION is '-'.

    \b
    edubot ask "401(k)計劃的資產規模有多大?"
    edubot ask --json "Did the Labor Department withdraw its 2022 crypto guidance?"
    echo '{"question": "...", "conv": "c1"}' | edubot ask --json -

    With --json and '-', each stdin line is {"question": ..., "conv": optional id}
    (lines sharing a conv are turns of one conversation) and each answer is one JSON
    line. Without --json, each stdin line is a question of one running conversation.
    """
    from .conversation import Conversation

    settings = _settings(ctx, top_k=top_k)
    engine = _open_engine(settings, build=False if no_build else None)
    forced = None if lang == "auto" else lang
    if question != "-":
        ans = engine.answer(question, lang=forced)
        if as_json:
            click.echo(json.dumps(ans.to_json(), ensure_ascii=False))
        else:
            _print_answer(ans, passages)
        return
    conversations: dict[str, Conversation] = {}
    default = Conversation()
    for n, line in enumerate(sys.stdin, start=1):
        line = line.strip()
        if not line:
            continue
        conv_id = None
        if as_json:
            try:
                data = json.loads(line)
                q = data["question"]
                conv_id = data.get("conv")
                if not isinstance(q, str):
                    raise TypeError("question must be a string")
            except (ValueError, KeyError, TypeError) as exc:
                click.echo(json.dumps({"error": f"line {n}: expected {{\"question\": ...}} ({exc})"}, ensure_ascii=False))
                continue
        else:
            q = line
        conv = conversations.setdefault(str(conv_id), Conversation()) if conv_id is not None else (None if as_json else default)
        ans = engine.answer(q, conv, lang=forced)
        if conv is not None and ans.turn is not None:
            conv.append(ans.turn)
        if as_json:
            out = ans.to_json()
            if conv_id is not None:
                out["conv"] = conv_id
            click.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        else:
            _print_answer(ans, passages)
            click.echo()


@cli.command()
@click.option("--lang", type=_LANG_CHOICE, default="auto", show_default=True, help="Answer script.")
@click.option("--passages", is_flag=True, help="Also show the retrieved passages.")
@click.pass_context
def chat(ctx: click.Context, lang: str, passages: bool) -> None:
    """Talk to the bot in the terminal; follow-up questions use the conversation.

    Type a question and press Enter. Commands: /reset forgets the conversation,
    /lang zh-Hant|zh-Hans|en|auto sets the answer script, /quit (or Ctrl-D) leaves.
    """
    from .conversation import Conversation

    settings = _settings(ctx)
    engine = _open_engine(settings)
    conv = Conversation()
    forced = None if lang == "auto" else lang
    click.echo("Ask about 401(k), ERISA or crypto in retirement plans (繁體/简体/English). /quit to leave.")
    while True:
        try:
            q = input("\n> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            break
        q = q.strip()
        if not q:
            continue
        if q in ("/quit", "/exit", "/q"):
            break
        if q == "/reset":
            conv.clear()
            click.echo("(conversation forgotten)")
            continue
        if q.startswith("/lang"):
            choice = q.split(maxsplit=1)[1].strip() if " " in q else "auto"
            if choice not in ("auto", "zh-Hant", "zh-Hans", "en"):
                click.echo("usage: /lang zh-Hant|zh-Hans|en|auto")
                continue
            forced = None if choice == "auto" else choice
            click.echo(f"(answers in {choice})")
            continue
        ans = engine.answer(q, conv, lang=forced)
        if ans.turn is not None:
            conv.append(ans.turn)
        click.echo()
        _print_answer(ans, passages)


@cli.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_context
def eval_cmd(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Evaluate on FILE (dev.jsonl format): hit@1/3/5 per language and refusals.

    An in-scope question counts as answered at k when one of its keys occurs in
    one of the first k passages returned; out-of-scope questions should be refused.
    """
    from .evaluation import EvalFileError, evaluate, format_report, read_items

    settings = _settings(ctx)
    try:
        items = read_items(file)
    except EvalFileError as exc:
        raise UserError(str(exc)) from None
    engine = _open_engine(settings)
    t = time.perf_counter()
    report = evaluate(engine, items)
    seconds = time.perf_counter() - t
    if as_json:
        click.echo(json.dumps({"metrics": report.metrics(), "by_scope": report.by_scope(),
                               "questions": len(items), "seconds": round(seconds, 3)}, ensure_ascii=False))
    else:
        click.echo(format_report(report))
        click.echo(f"\n{len(items)} questions in {seconds:.2f} s")


@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the corpus, the index and whether the index is up to date."""
    from .chunking import ChunkSettings
    from .engine import _encoder_name
    from .index import check

    settings = _settings(ctx)
    try:
        corpus = load_corpus(settings.corpus_dir, strict=False)
    except CorpusError as exc:
        raise UserError(str(exc)) from None
    st = check(settings.index_dir, corpus, _encoder_name(settings, None), ChunkSettings(settings.chunk_size, settings.chunk_overlap))
    click.echo(f"corpus: {settings.corpus_dir} ({len(corpus.documents)} documents, {len(corpus.errors)} malformed)")
    for err in corpus.errors:
        click.echo(f"  malformed: {err}")
    if st.manifest:
        m = st.manifest
        click.echo(f"index:  {settings.index_dir} ({m.n_chunks} chunks, encoder {m.encoder}, built {m.built_at})")
    click.echo("status: up to date" if st.ok else f"status: {st.reason}; run `edubot build`")


def _register_plugins() -> None:
    """Front ends and tools living in their own modules add their commands here.

    Each module imports its heavy dependencies inside its commands, so ``edubot ask``
    never pays for python-telegram-bot or PDF parsing.
    """
    import importlib

    for module in ("bot.telegram_cli", "bot.ingest_cli", "bot.bench_cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        for command in getattr(mod, "COMMANDS", ()):
            cli.add_command(command)


_register_plugins()


def main() -> None:
    try:
        cli(prog_name="edubot")
    except KeyboardInterrupt:
        sys.exit(130)
