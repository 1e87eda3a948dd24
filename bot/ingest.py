"""Adding operators' own documents to the corpus: files, folders and http(s) URLs.

``edubot add`` (see :mod:`bot.ingest_cli`) is a thin shell over this module:

1. **Fetch** each source (:mod:`bot.fetch`): a local ``.md``/``.txt``/``.html``/``.pdf``
   file, a folder of them, or an ``http(s)`` URL downloaded with httpx under a size
   limit, a timeout and at most five redirects, each checked to stay on http(s).
2. **Extract** the main text as Markdown with ``## `` section headings
   (:mod:`bot.extract`): trafilatura for HTML, pypdf for PDF (sections from the PDF
   outline, else one per page).
3. **Render** one corpus document per source with YAML front matter: ``title``,
   ``language``, ``kind: document``, ``url`` or ``source_file``, ``retrieved`` and
   ``content_hash`` (SHA-256 of the document body as written, so
   ``sha256(doc.body) == content_hash``).
4. **Write** the documents (temp file + ``os.replace``) and **rebuild the index**
   incrementally; if the build fails, every written document is restored, so the
   corpus and the index are never left half-updated.

Re-adding a source updates its document in place (matched on ``url`` or
``source_file``); identical text is reported ``unchanged`` and nothing is rebuilt.

This module is the public entry point: the names of :mod:`bot.fetch`,
:mod:`bot.extract` and :mod:`bot.ingest_errors` that callers use are re-exported here.

Heavy dependencies (httpx, trafilatura, pypdf, the index) are imported inside the
functions that need them: importing this module costs nothing extra.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import unicodedata
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import yaml

from .corpus import Corpus, CorpusError, Document, load_corpus, parse_document
# Also re-exported: callers (bot.ingest_cli, the tests) import these names from bot.ingest.
from .extract import (_CJK_CHAR, Extracted, detect_lang, extract, extract_html, extract_pdf,  # noqa: F401
                      normalise_headings, reflow)
from .fetch import (DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, FILE_FORMATS, MAX_REDIRECTS, USER_AGENT,  # noqa: F401
                    FetchOptions, Fetched, Format, Source, _is_url_like, fetch_url, normalise_url, read_file)
from .ingest_errors import EXIT_DATA, EXIT_INPUT, EXIT_NETWORK, EXIT_OK, IngestError, _reason  # noqa: F401
from .locks import CORPUS_LOCK, Busy, exclusive
from .script import Lang

if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings
    from .index import BuildReport

log = logging.getLogger(__name__)

DEFAULT_INTO = "added"
SLUG_MAX = 80
_SLUG_DROP = re.compile(rf"[^0-9a-z{_CJK_CHAR}]+")


Status = Literal["added", "updated", "unchanged", "removed", "failed"]


@dataclass(frozen=True, slots=True)
class Outcome:
    source: str
    status: Status
    doc_id: str = ""
    title: str = ""
    lang: str = ""
    chars: int = 0
    chunks: int | None = None
    error: str = ""
    code: int = EXIT_OK

    def to_json(self) -> dict[str, Any]:
        out = {"source": self.source, "status": self.status}
        if self.status == "failed":
            out.update(error=self.error, code=self.code)
        else:
            out.update(doc_id=self.doc_id, title=self.title, lang=self.lang, chars=self.chars, chunks=self.chunks)
        return out


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    embedded: int
    n_chunks: int
    n_documents: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Report:
    outcomes: tuple[Outcome, ...]
    index: IndexUpdate | None = None  # None when the index was not rebuilt
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when every source succeeded, else the code of the first failure."""
        return next((o.code for o in self.outcomes if o.status == "failed"), EXIT_OK)


@dataclass(frozen=True, slots=True)
class Change:
    """A corpus file this run wrote or deleted, with what to put back on failure."""

    path: Path
    previous: bytes | None  # None: the file did not exist before


@dataclass(frozen=True, slots=True)
class Listed:
    doc_id: str
    title: str
    lang: str
    date: str
    retrieved: str
    source: str
    kind: str
    chunks: int | None  # None: not in the current index (new or changed since the build)

    def to_json(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "title": self.title, "lang": self.lang, "date": self.date,
                "retrieved": self.retrieved, "source": self.source, "kind": self.kind, "chunks": self.chunks}



# -- small helpers -------------------------------------------------------------------


def slugify(title: str, max_len: int = SLUG_MAX) -> str:
    """A safe file-name stem: CJK and ASCII letters/digits, other runs collapsed to '-'.

    Never empty, never starts with '.' or '-', contains no path separators.
    """
    text = unicodedata.normalize("NFKC", title).lower()
    slug = _SLUG_DROP.sub("-", text).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rstrip("-")
    return slug or "document"



def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()



# -- sources -------------------------------------------------------------------------


def expand_sources(args: Sequence[str], corpus_dir: Path) -> tuple[list[Source | Outcome], list[str]]:
    """Turn command-line arguments into sources; unusable ones become failed outcomes.

    Folders are searched recursively for supported files (hidden and ``_`` files are
    skipped, as in the corpus). Returns the items in order and notes for the user.
    """
    items: list[Source | Outcome] = []
    notes: list[str] = []
    corpus_root = corpus_dir.resolve()
    for arg in args:
        if _is_url_like(arg):
            if urlsplit(arg).scheme.lower() not in ("http", "https"):
                scheme = urlsplit(arg).scheme.lower()
                items.append(Outcome(arg, "failed", error=f"unsupported URL scheme {scheme}://: only http and https",
                                     code=EXIT_INPUT))
                continue
            try:
                url = normalise_url(arg)
            except IngestError as exc:
                items.append(Outcome(arg, "failed", error=exc.message, code=exc.code))
                continue
            items.append(Source("url", url, url))
            continue
        path = Path(arg).expanduser()
        if not path.exists():
            items.append(Outcome(arg, "failed", error="no such file or folder", code=EXIT_INPUT))
            continue
        resolved = path.resolve()
        if resolved == corpus_root or corpus_root in resolved.parents:
            items.append(Outcome(arg, "failed", code=EXIT_INPUT,
                                 error="is inside the corpus folder: it is already part of the corpus"))
            continue
        if path.is_dir():
            found, skipped = [], 0
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path)
                if any(p.startswith((".", "_")) for p in rel.parts) or not f.is_file():
                    continue
                if f.suffix.lower() in FILE_FORMATS:
                    found.append(Source("file", str(f), rel.as_posix()))
                else:
                    skipped += 1
            if skipped:
                notes.append(f"{arg}: skipped {skipped} file(s) of unsupported types")
            if not found:
                items.append(Outcome(arg, "failed", code=EXIT_INPUT,
                                     error=f"no {'/'.join(sorted(FILE_FORMATS))} files in this folder"))
            items.extend(found)
            continue
        if path.suffix.lower() not in FILE_FORMATS:
            kind = path.suffix or "(none)"
            items.append(Outcome(arg, "failed", code=EXIT_INPUT,
                                 error=f"unsupported file type {kind!r}: use .md, .txt, .html or .pdf"))
            continue
        items.append(Source("file", str(path), path.name))
    return items, notes


# -- documents -----------------------------------------------------------------------


def render_document(ex: Extracted, source: Source, retrieved: str) -> str:
    """The corpus file: YAML front matter, then the body whose SHA-256 is ``content_hash``."""
    meta: dict[str, Any] = {"title": ex.title, "language": ex.lang, "kind": "document"}
    if source.kind == "url":
        meta["url"] = source.key
    else:
        if ex.extra.get("url"):
            meta["url"] = ex.extra["url"]
        meta["source_file"] = source.key
    for key in ("topic", "sources", "licence", "attribution"):
        if ex.extra.get(key):
            meta[key] = ex.extra[key]
    if ex.date:
        meta["date"] = ex.date
    meta["format"] = ex.format
    meta["retrieved"] = retrieved
    meta["content_hash"] = content_hash(ex.body)
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, default_flow_style=False, width=10_000)
    return f"---\n{front}---\n{ex.body}"


def find_existing(corpus: Corpus, source: Source) -> Document | None:
    """The document made from ``source`` by an earlier ``add``, if any."""
    for doc in corpus.documents:
        if source.kind == "file" and str(doc.meta.get("source_file") or "") == source.key:
            return doc
        if source.kind == "url" and "source_file" not in doc.meta and doc.url and _same_url(doc.url, source.key):
            return doc
    return None


def _same_url(a: str, b: str) -> bool:
    try:
        return normalise_url(a) == normalise_url(b)
    except IngestError:
        return a == b


def check_into(into: str) -> str:
    """Validate the corpus subfolder for new documents ('' for the corpus folder itself)."""
    p = Path(into.strip().replace("\\", "/"))
    if p.is_absolute() or any(part in ("..",) for part in p.parts):
        raise IngestError(f"--into {into!r} must be a folder inside the corpus folder", EXIT_INPUT)
    parts = [part for part in p.parts if part not in ("", ".")]
    if any(part.startswith((".", "_")) for part in parts):
        raise IngestError(f"--into {into!r}: folders starting with '.' or '_' are ignored by the corpus", EXIT_INPUT)
    return "/".join(parts)


def new_doc_path(root: Path, into: str, title: str, lang: str, taken: set[str]) -> str:
    """A fresh doc_id ``<into>/<slug>.<lang>.md`` that no file or planned document uses."""
    slug = slugify(title)
    prefix = f"{into}/" if into else ""
    for n in range(1, 10_000):
        stem = slug if n == 1 else f"{slug}-{n}"
        doc_id = f"{prefix}{stem}.{lang}.md"
        if doc_id.lower() not in taken and not (root / doc_id).exists():
            return doc_id
    raise IngestError("cannot find a free file name", EXIT_DATA)  # pragma: no cover


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a hidden temp file in the same folder and ``os.replace``: readers and
    crashes never see half a document (the corpus ignores dot files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def rollback(changes: Sequence[Change], created_dirs: Sequence[Path] = ()) -> None:
    """Put every changed corpus file back as it was, newest first."""
    for ch in reversed(changes):
        try:
            if ch.previous is None:
                ch.path.unlink(missing_ok=True)
            else:
                write_atomic(ch.path, ch.previous)
        except OSError as exc:  # pragma: no cover - reported, the rest is still restored
            log.error("could not restore %s: %s", ch.path, exc)
    for d in reversed(created_dirs):
        try:
            d.rmdir()
        except OSError:
            pass


# -- orchestration -------------------------------------------------------------------


def _load(settings: Settings) -> Corpus:
    try:
        return load_corpus(settings.corpus_dir, strict=True)
    except CorpusError as exc:
        raise IngestError(str(exc), EXIT_DATA) from None


def rebuild_index(settings: Settings, progress: Callable[[str, int, int], None] | None = None) -> BuildReport:
    """Build the index over the corpus as it is now; only new text is embedded."""
    from .chunking import ChunkSettings
    from .encoders import EncoderError, load_encoder
    from .index import build_index
    from .tokens import Tokenizer

    corpus = _load(settings)
    try:
        encoder = load_encoder(settings.encoder)
    except EncoderError as exc:
        raise IngestError(str(exc), EXIT_DATA) from None
    return build_index(corpus, settings.index_dir, encoder, Tokenizer(),
                       ChunkSettings(settings.chunk_size, settings.chunk_overlap), settings.faiss, progress)


def _apply(settings: Settings, changes: list[Change], created: list[Path], build: bool,
           progress: Callable[[str, int, int], None] | None) -> IndexUpdate | None:
    """Rebuild the index after ``changes``; on any failure restore the corpus and raise."""
    if not changes or not build:
        return None
    try:
        report = rebuild_index(settings, progress)
    except BaseException as exc:
        rollback(changes, created)
        if isinstance(exc, IngestError):
            raise IngestError(f"{exc.message}; the corpus was left unchanged", EXIT_DATA) from None
        if isinstance(exc, Exception):
            raise IngestError(f"index update failed ({_reason(exc)}); the corpus was left unchanged",
                              EXIT_DATA) from exc
        raise
    m = report.manifest
    return IndexUpdate(report.embedded, m.n_chunks, m.n_documents, report.seconds)


def _chunk_counts(settings: Settings) -> dict[str, int]:
    from .index import read_manifest

    m = read_manifest(settings.index_dir)
    return {d["doc_id"]: int(d.get("chunks", 0)) for d in (m.documents if m else [])}


def _one_writer(fn: Callable[..., Report]) -> Callable[..., Report]:
    """Run ``fn(settings, ...)`` while no other process adds or removes documents.

    Two runs at once could each restore the other's files when one rolls back.
    """
    @functools.wraps(fn)
    def locked(settings: Settings, *args: Any, **kwargs: Any) -> Report:
        try:
            with exclusive(Path(settings.index_dir) / CORPUS_LOCK,
                           f"another `edubot add` or `edubot remove` on {settings.corpus_dir}"):
                return fn(settings, *args, **kwargs)
        except Busy as exc:
            raise IngestError(str(exc), EXIT_DATA) from None
    return locked


@_one_writer
def add(
    settings: Settings,
    args: Sequence[str],
    *,
    options: FetchOptions = FetchOptions(),
    into: str = DEFAULT_INTO,
    lang: Lang | None = None,
    title: str | None = None,
    build: bool = True,
    today: dt.date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Report:
    """Add files, folders and URLs to ``settings.corpus_dir`` and update the index.

    Every source is fetched and extracted before anything is written; then the new
    and changed documents are written atomically and the index is rebuilt once. If
    the rebuild fails the written documents are restored and :class:`IngestError`
    (``EXIT_DATA``) is raised. Per-source failures are outcomes, not exceptions.
    """
    corpus = _load(settings)
    into = check_into(into)
    root = Path(settings.corpus_dir)
    retrieved = (today or dt.date.today()).isoformat()
    fallback: Lang = settings.default_lang  # type: ignore[assignment]
    items, notes = expand_sources(args, root)
    if title and sum(isinstance(i, Source) for i in items) > 1:
        raise IngestError("--title can only be used with a single source", EXIT_INPUT)
    taken = {d.doc_id.lower() for d in corpus.documents}
    seen: dict[str, str] = {}
    planned: list[tuple[Outcome, bytes]] = []
    outcomes: list[Outcome] = []

    done = outcomes.append

    for item in items:
        if isinstance(item, Outcome):
            done(item)
            continue
        label = item.location
        if item.key in seen:
            if seen[item.key] != item.location:
                done(Outcome(label, "failed", code=EXIT_INPUT,
                             error=f"another source in this run is also recorded as {item.key!r}; add it separately"))
            continue
        seen[item.key] = item.location
        try:
            fetched = (fetch_url(item.location, options) if item.kind == "url"
                       else read_file(Path(item.location), options))
            ex = extract(fetched, item, lang=lang, title=title, fallback_lang=fallback, max_bytes=options.max_bytes)
        except IngestError as exc:
            done(Outcome(label, "failed", error=exc.message, code=exc.code))
            continue
        existing = find_existing(corpus, item)
        new_hash = content_hash(ex.body)
        if existing is not None and existing.meta.get("content_hash") == new_hash:
            done(Outcome(label, "unchanged", existing.doc_id, existing.title, existing.lang, len(ex.body)))
            continue
        doc_id = existing.doc_id if existing else new_doc_path(root, into, ex.title, ex.lang, taken)
        taken.add(doc_id.lower())
        text = render_document(ex, item, retrieved)
        try:
            parse_document(root / doc_id, doc_id, raw=text.encode("utf-8"))  # never write what the corpus rejects
        except CorpusError as exc:  # pragma: no cover - would be a bug in render_document
            done(Outcome(label, "failed", error=f"rendered document is invalid: {exc.message}", code=EXIT_DATA))
            continue
        status: Status = "updated" if existing else "added"
        planned.append((Outcome(label, status, doc_id, ex.title, ex.lang, len(ex.body)), text.encode("utf-8")))

    changes: list[Change] = []
    created: list[Path] = []
    try:
        for outcome, data in planned:
            path = root / outcome.doc_id
            missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
            created.extend(reversed(missing))
            previous = path.read_bytes() if path.exists() else None
            changes.append(Change(path, previous))
            write_atomic(path, data)
    except BaseException as exc:
        rollback(changes, created)
        if isinstance(exc, OSError):
            raise IngestError(f"cannot write to the corpus folder: {exc.strerror or exc}", EXIT_DATA) from None
        raise
    index = _apply(settings, changes, created, build, progress)
    counts = _chunk_counts(settings) if index else {}
    outcomes.extend(replace(o, chunks=counts.get(o.doc_id)) if index else o for o, _ in planned)
    if planned and not build:
        notes.append("the index was not updated: run `edubot build`")
    elif not planned and outcomes and all(o.status in ("unchanged", "failed") for o in outcomes):
        stale = index_stale(settings, corpus)
        if stale:
            notes.append(f"the index is not up to date ({stale}): run `edubot build`")
    return Report(tuple(_in_order(outcomes, items)), index, tuple(notes))


def _in_order(outcomes: list[Outcome], items: list[Source | Outcome]) -> list[Outcome]:
    rank: dict[str, int] = {}
    for n, item in enumerate(items):
        rank.setdefault(item.location if isinstance(item, Source) else item.source, n)
    return sorted(outcomes, key=lambda o: rank.get(o.source, len(rank)))


def index_stale(settings: Settings, corpus: Corpus) -> str:
    """'' when the index matches the corpus, else the reason it does not."""
    from .chunking import ChunkSettings
    from .engine import _encoder_name
    from .index import check

    st = check(settings.index_dir, corpus, _encoder_name(settings, None),
               ChunkSettings(settings.chunk_size, settings.chunk_overlap))
    return "" if st.ok else st.reason


def resolve_document(corpus: Corpus, ref: str) -> Document:
    """The document ``ref`` names: a doc_id, a path to the file, or a recorded url/source_file."""
    by_id = corpus.by_id()
    ref_s = ref.strip()
    if ref_s.replace("\\", "/") in by_id:
        return by_id[ref_s.replace("\\", "/")]
    path = Path(ref_s).expanduser()
    if path.is_file():
        try:
            rel = path.resolve().relative_to(Path(corpus.root).resolve()).as_posix()
        except ValueError:
            rel = ""
        if rel in by_id:
            return by_id[rel]
    matches = [d for d in corpus.documents
               if (d.url and _is_url_like(ref_s) and _same_url(d.url, ref_s))
               or str(d.meta.get("source_file") or "") == ref_s
               or (d.meta.get("source_file") and Path(str(d.meta["source_file"])).name == ref_s)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        names = ", ".join(d.doc_id for d in matches[:5])
        raise IngestError(f"{ref!r} matches several documents ({names}): give the doc_id", EXIT_INPUT)
    raise IngestError(f"no document {ref!r} in the corpus (see `edubot list`)", EXIT_INPUT)


@_one_writer
def remove(settings: Settings, refs: Sequence[str], *, build: bool = True,
           progress: Callable[[str, int, int], None] | None = None) -> Report:
    """Delete documents from the corpus and rebuild the index (restoring them if that fails)."""
    corpus = _load(settings)
    outcomes: list[Outcome] = []
    targets: dict[str, Document] = {}
    for ref in refs:
        try:
            doc = resolve_document(corpus, ref)
        except IngestError as exc:
            outcomes.append(Outcome(ref, "failed", error=exc.message, code=exc.code))
            continue
        targets.setdefault(doc.doc_id, doc)
        outcomes.append(Outcome(ref, "removed", doc.doc_id, doc.title, doc.lang))
    if targets and len(targets) >= len(corpus.documents):
        raise IngestError("cannot remove every document: the corpus would be empty", EXIT_DATA)
    changes: list[Change] = []
    root = Path(settings.corpus_dir)
    try:
        for doc_id in targets:
            path = root / doc_id
            changes.append(Change(path, path.read_bytes()))
            path.unlink()
    except BaseException as exc:
        rollback(changes)
        if isinstance(exc, OSError):
            raise IngestError(f"cannot delete from the corpus folder: {exc.strerror or exc}", EXIT_DATA) from None
        raise
    index = _apply(settings, changes, [], build, progress)
    notes = ("the index was not updated: run `edubot build`",) if changes and not build else ()
    return Report(tuple(outcomes), index, notes)


def list_documents(settings: Settings, added_only: bool = False) -> tuple[list[Listed], str]:
    """Corpus documents with their chunk counts in the current index, and the index status
    ('' when up to date). A document new or changed since the last build has ``chunks=None``."""
    from .index import read_manifest

    corpus = _load(settings)
    from .engine import _encoder_name
    from .index import FORMAT_VERSION

    manifest = read_manifest(settings.index_dir)
    indexed = {d["doc_id"]: d for d in (manifest.documents if manifest else [])}
    stale = index_stale(settings, corpus)
    # Chunk counts only mean something for an index built the way the engine would load it.
    whole_index_stale = manifest is None or (
        manifest.format_version != FORMAT_VERSION
        or manifest.encoder != _encoder_name(settings, None)
        or (manifest.chunk_size, manifest.chunk_overlap) != (settings.chunk_size, settings.chunk_overlap))
    rows = []
    for doc in corpus.documents:
        if added_only and "retrieved" not in doc.meta:
            continue
        entry = indexed.get(doc.doc_id)
        chunks = (None if whole_index_stale or entry is None or entry.get("content_hash") != doc.content_hash
                  else int(entry.get("chunks", 0)))
        rows.append(Listed(doc.doc_id, doc.title, doc.lang, doc.date, str(doc.meta.get("retrieved") or ""),
                           doc.url or str(doc.meta.get("source_file") or ""), doc.kind, chunks))
    return rows, stale


__all__ = [
    "DEFAULT_INTO", "DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "EXIT_DATA", "EXIT_INPUT", "EXIT_NETWORK", "EXIT_OK",
    "Change", "Extracted", "FetchOptions", "Fetched", "IndexUpdate", "IngestError", "Listed", "Outcome", "Report",
    "Source", "add", "content_hash", "detect_lang", "expand_sources", "extract", "extract_html", "extract_pdf",
    "fetch_url", "find_existing", "list_documents", "normalise_headings", "normalise_url", "read_file",
    "rebuild_index", "reflow", "remove", "render_document", "resolve_document", "slugify", "write_atomic",
]
