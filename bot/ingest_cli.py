"""``edubot add``, ``edubot remove`` and ``edubot list``: operators' own documents.

Registered by :func:`bot.cli._register_plugins`. Only click and :mod:`bot.ingest`
(itself light: httpx, trafilatura and pypdf are imported when a command runs) are
imported here, so ``edubot ask`` pays nothing for these commands.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from .ingest import (DEFAULT_INTO, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, EXIT_DATA, EXIT_INPUT, EXIT_NETWORK,
                     MAX_REDIRECTS)

EXIT_CODES_HELP = f"""\b
Exit codes:
  0  every source added, updated or unchanged
  2  usage error (bad option)
  {EXIT_DATA}  corpus, index or configuration problem (the corpus is left unchanged)
  {EXIT_NETWORK}  download failed: unreachable host, HTTP error status, timeout,
     too large, too many redirects, redirect to a non-http(s) URL
  {EXIT_INPUT}  unusable input: unsupported type or URL scheme, missing file,
     no extractable text (e.g. a scanned PDF), unknown document
With several sources each one is reported; the exit code is that of the
first failure."""


REMOVE_EXIT_CODES_HELP = f"""\b
Exit codes:
  0  every document removed
  2  usage error
  {EXIT_DATA}  corpus, index or configuration problem (the files are restored)
  {EXIT_INPUT}  no such document, or DOC matches several documents
The exit code is that of the first failure."""


class ByteSize(click.ParamType):
    """A size such as 10MB, 500KB, 2M or 1048576 (bytes)."""

    name = "SIZE"
    _UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
              "g": 1024**3, "gb": 1024**3, "gib": 1024**3}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = m.group(2).lower() if m else ""
        if not m or unit not in self._UNITS or float(m.group(1)) <= 0:
            self.fail(f"{value!r} is not a size such as 10MB, 500KB or 1048576", param, ctx)
        return int(float(m.group(1)) * self._UNITS[unit])


def _user_error(message: str, code: int) -> click.ClickException:
    from .cli import UserError

    return UserError(message, code)


def _fmt_chunks(n: int | None) -> str:
    return "not indexed" if n is None else f"{n} chunk{'s' if n != 1 else ''}"


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        out: dict[str, Any] = {"results": [o.to_json() for o in report.outcomes], "exit_code": report.exit_code}
        if report.index:
            out["index"] = {"embedded": report.index.embedded, "chunks": report.index.n_chunks,
                            "documents": report.index.n_documents, "seconds": round(report.index.seconds, 3)}
        out["notes"] = list(report.notes)
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    for o in report.outcomes:
        if o.status == "failed":
            click.echo(f"error: {o.source}: {o.error}", err=True)
            continue
        status = o.status
        detail = o.lang + (f", {_fmt_chunks(o.chunks)}" if report.index and status != "removed" else "")
        click.echo(f"{status:<9} {o.doc_id}  ({detail})  ← {o.source}  {o.title}".rstrip())
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if report.index:
        ix = report.index
        click.echo(f"index updated: {ix.embedded} chunks newly embedded ({ix.n_chunks} chunks, "
                   f"{ix.n_documents} documents, {ix.seconds:.1f} s)")


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("sources", nargs=-1, required=True, metavar="PATH_OR_URL...")
@click.option("--into", default=DEFAULT_INTO, show_default=True,
              help="Corpus subfolder for new documents ('' or '.' for the corpus folder itself).")
@click.option("--max-size", type=ByteSize(), default=DEFAULT_MAX_BYTES,
              help="Largest download (or file) accepted, e.g. 10MB, 500KB.  [default: 10MB]")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds allowed for each download, redirects included.")
@click.option("--lang", type=click.Choice(["auto", "zh-Hant", "zh-Hans", "en"]), default="auto", show_default=True,
              help="Language of the documents (auto: detected from the text).")
@click.option("--title", help="Title for the document (a single source only; default: from the source).")
@click.option("--no-build", is_flag=True, help="Write the documents but do not update the index.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with each result.")
@click.pass_context
def add(ctx: click.Context, sources: tuple[str, ...], into: str, max_size: int, timeout: float, lang: str,
        title: str | None, no_build: bool, as_json: bool) -> None:
    """Add documents: .md, .txt, .html/.htm and .pdf files, folders of them, and http(s) URLs.

    The main text is extracted (trafilatura for web pages, pypdf for PDFs) with its
    headings as sections, and each source becomes one Markdown document in
    CORPUS/added/ with front matter recording its title, language, url or
    source_file, retrieval date and content hash. The index is then updated; only
    the new text is embedded.

    Adding a source again updates its document in place; if its text is unchanged
    nothing is rewritten or rebuilt. URLs must be http or https; downloads are
    limited in size (--max-size), time (--timeout) and to 5 redirects. On failure
    nothing half-written is left in the corpus or the index.

    \b
    edubot add https://www.example.org/plan-fees.html
    edubot add report.pdf notes/ --lang zh-Hant
    edubot --corpus my-corpus --index my-index add guide.md
    """
    from .ingest import FetchOptions, IngestError
    from .ingest import add as add_sources

    settings = _settings_for(ctx)
    options = FetchOptions(max_bytes=max_size, timeout=timeout, max_redirects=MAX_REDIRECTS)
    progress = None if as_json else _progress()
    try:
        report = add_sources(settings, sources, options=options, into=into,
                             lang=None if lang == "auto" else lang,  # type: ignore[arg-type]
                             title=title, build=not no_build, progress=progress)
    except IngestError as exc:
        raise _user_error(exc.message, exc.code) from None
    _print_report(report, as_json)
    if report.exit_code:
        ctx.exit(report.exit_code)


@click.command(epilog=REMOVE_EXIT_CODES_HELP)
@click.argument("documents", nargs=-1, required=True, metavar="DOC...")
@click.option("--no-build", is_flag=True, help="Delete the files but do not update the index.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with each result.")
@click.pass_context
def remove(ctx: click.Context, documents: tuple[str, ...], no_build: bool, as_json: bool) -> None:
    """Remove documents from the corpus and update the index.

    DOC is a doc_id as shown by `edubot list` (e.g. added/plan-fees.en.md), a path
    to the file, or the url / source_file recorded when it was added. If the index
    cannot be updated the files are restored.
    """
    from .ingest import IngestError
    from .ingest import remove as remove_docs

    settings = _settings_for(ctx)
    try:
        report = remove_docs(settings, documents, build=not no_build, progress=None if as_json else _progress())
    except IngestError as exc:
        raise _user_error(exc.message, exc.code) from None
    _print_report(report, as_json)
    if report.exit_code:
        ctx.exit(report.exit_code)


@click.command(name="list")
@click.option("--added", "added_only", is_flag=True, help="Only documents added with `edubot add`.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: documents and index status.")
@click.pass_context
def list_cmd(ctx: click.Context, added_only: bool, as_json: bool) -> None:
    """List the corpus documents: doc_id, language, date, chunks in the index, title.

    DATE is the date the document describes (front matter `date`), else the date it
    was retrieved. CHUNKS says "not indexed" for a document added or changed since
    the index was built (run `edubot build`).
    """
    from .ingest import IngestError, list_documents

    settings = _settings_for(ctx)
    try:
        rows, stale = list_documents(settings, added_only=added_only)
    except IngestError as exc:
        raise _user_error(exc.message, exc.code) from None
    if as_json:
        click.echo(json.dumps({"documents": [r.to_json() for r in rows], "index_up_to_date": not stale,
                               "index_status": stale or "up to date"}, ensure_ascii=False))
        return
    width = max([_width(r.doc_id) for r in rows] + [3])
    click.echo(f"{_pad('DOC', width)}  {'LANG':<7}  {'DATE':<10}  {'CHUNKS':>11}  TITLE")
    for r in rows:
        chunks = "not indexed" if r.chunks is None else str(r.chunks)
        date = r.date or r.retrieved or "-"
        click.echo(f"{_pad(r.doc_id, width)}  {r.lang:<7}  {date:<10}  {chunks:>11}  {r.title}")
    plural = "s" if len(rows) != 1 else ""
    click.echo(f"\n{len(rows)} document{plural}; index: " + (f"{stale}; run `edubot build`" if stale else "up to date"))


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _settings_for(ctx: click.Context) -> Any:
    from .cli import _settings

    return _settings(ctx)


def _progress() -> Any:
    from .cli import _progress_bar

    return _progress_bar()


COMMANDS = [add, remove, list_cmd]
