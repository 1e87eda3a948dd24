"""Adding operators' own documents to the corpus: files, folders and http(s) URLs.

``edubot add`` (see :mod:`bot.ingest_cli`) is a thin shell over this module:

1. **Fetch** each source: a local ``.md``/``.txt``/``.html``/``.pdf`` file, a folder
   of them, or an ``http(s)`` URL downloaded with httpx under a size limit, a
   timeout and at most five redirects, each checked to stay on http(s).
2. **Extract** the main text as Markdown with ``## `` section headings: trafilatura
   for HTML, pypdf for PDF (sections from the PDF outline, else one per page).
3. **Render** one corpus document per source with YAML front matter: ``title``,
   ``language``, ``kind: document``, ``url`` or ``source_file``, ``retrieved`` and
   ``content_hash`` (SHA-256 of the document body as written, so
   ``sha256(doc.body) == content_hash``).
4. **Write** the documents (temp file + ``os.replace``) and **rebuild the index**
   incrementally; if the build fails, every written document is restored, so the
   corpus and the index are never left half-updated.

Re-adding a source updates its document in place (matched on ``url`` or
``source_file``); identical text is reported ``unchanged`` and nothing is rebuilt.

Heavy dependencies (httpx, trafilatura, pypdf, the index) are imported inside the
functions that need them: importing this module costs nothing extra.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import yaml

from .corpus import Corpus, CorpusError, Document, load_corpus, parse_document
from .script import Lang, cjk_count, detect

if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings
    from .index import BuildReport

log = logging.getLogger(__name__)

# Exit codes a script can test (documented in ``edubot add --help``).
EXIT_OK = 0
EXIT_DATA = 3  # corpus, index or configuration problem (same as bot.cli.EXIT_DATA)
EXIT_NETWORK = 4  # download failed: unreachable, HTTP error, timeout, too large, refused redirect
EXIT_INPUT = 5  # unusable input: unsupported type or scheme, missing file, no text, unknown document

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0
MAX_REDIRECTS = 5
DEFAULT_INTO = "added"
SLUG_MAX = 80
USER_AGENT = "edubot-ingest/0.1 (+investor-education Q&A bot)"

Format = Literal["html", "pdf", "markdown", "text"]
FILE_FORMATS: dict[str, Format] = {
    ".md": "markdown", ".markdown": "markdown", ".txt": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf",
}
_CONTENT_TYPES: dict[str, Format] = {
    "text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf",
    "text/markdown": "markdown", "text/x-markdown": "markdown", "text/plain": "text",
}
_CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_SLUG_DROP = re.compile(rf"[^0-9a-z{_CJK_CHAR}]+")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TERMINAL_END = re.compile(r"[.。!?！？:：;；」』”)）]\s*$")
_BULLET_START = re.compile(r"^\s*(?:[-•·*▪◦]|\d{1,2}[.)、])\s*")
_UNTITLED = re.compile(r"^(untitled|microsoft word - .*|document\d*|\s*)$", re.IGNORECASE)


class IngestError(Exception):
    """A source that cannot be added: one line for the user and an exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.message = message
        self.code = code


# -- options and data at the boundaries -----------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchOptions:
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT  # seconds, for the whole download including redirects
    max_redirects: int = MAX_REDIRECTS
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")


@dataclass(frozen=True, slots=True)
class Source:
    """One thing to add. ``key`` is what the front matter records (URL or file name)."""

    kind: Literal["url", "file"]
    location: str  # the URL, or the file path
    key: str  # url, or source_file (file name, relative to the folder given)


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    format: Format
    final_url: str = ""
    charset: str | None = None


@dataclass(frozen=True, slots=True)
class Extracted:
    """Main text of a source as a Markdown body (``# Title`` then ``## `` sections)."""

    title: str
    lang: Lang
    body: str
    format: Format
    date: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # front matter carried over from a .md source


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


def detect_lang(text: str, fallback: Lang = "zh-Hant") -> Lang:
    """Language of a whole document: English unless Chinese characters are a real share of it.

    :func:`bot.script.detect` decides the script of Chinese text; a stray Chinese
    link ("中文版") on an English page does not make the page Chinese.
    """
    sample = text[:20000]
    n_cjk = cjk_count(sample)
    if n_cjk == 0 or n_cjk < len(_LATIN_WORD.findall(sample)):
        return "en"
    return detect(sample, fallback=fallback).lang


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _CONTROL.sub("", text)
    lines = [ln.rstrip() for ln in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text[:limit].rstrip()


def normalise_headings(markdown: str, title: str) -> str:
    """``# Title`` on top, then the text with its headings shifted to start at ``##``.

    A leading heading repeating the title is dropped; headings inside fenced code
    blocks are left alone.
    """
    lines = _clean_text(markdown).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines:
        m = _HEADING.match(lines[0])
        if m and _one_line(m.group(2)).casefold() == _one_line(title).casefold():
            lines.pop(0)
    levels = []
    fenced = False
    for ln in lines:
        if _FENCE.match(ln):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(ln)):
            levels.append(len(m.group(1)))
    shift = max(0, 2 - min(levels)) if levels else 0
    out = []
    fenced = False
    for ln in lines:
        if _FENCE.match(ln):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(ln)):
            ln = "#" * min(6, len(m.group(1)) + shift) + " " + _one_line(m.group(2), 300)
        out.append(ln)
    text = "\n".join(out).strip()
    return f"# {title}\n\n{text}\n" if text else f"# {title}\n"


def _display_width(text: str) -> int:
    """Printed width: a Chinese character is about two Latin letters wide."""
    return len(text) + cjk_count(text)


def reflow(text: str) -> str:
    """Join hard-wrapped lines (as PDF text comes out) into paragraphs.

    The chunker splits sentences at line breaks, so a PDF's line-per-row text would
    otherwise give sentence fragments. A line break is kept after a sentence end,
    before a bullet, and at blank lines.
    """
    lines = [raw.strip() for raw in text.replace("\r", "\n").split("\n")]
    lengths = sorted(_display_width(ln) for ln in lines if ln)
    short = 0.7 * lengths[len(lengths) // 2] if lengths else 0  # a line well below the usual width ends a paragraph
    paragraphs: list[str] = []
    current = ""
    last = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if not current:
            current = line
        elif _TERMINAL_END.search(current) or _BULLET_START.match(line) or _display_width(last) < short:
            paragraphs.append(current)
            current = line
        elif re.search(f"[{_CJK_CHAR}，、]$", current) and re.match(f"[{_CJK_CHAR}]", line):
            current += line
        elif re.search(r"[a-z]-$", current) and line[:1].islower():
            current = current[:-1] + line
        else:
            current += " " + line
        last = line
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs)


def _page_heading(n: int, lang: Lang) -> str:
    return {"en": f"Page {n}", "zh-Hant": f"第{n}頁", "zh-Hans": f"第{n}页"}[lang]


def _url_title(url: str) -> str:
    parts = urlsplit(url)
    stem = Path(parts.path.rstrip("/")).stem
    return stem.replace("-", " ").replace("_", " ").strip() or parts.hostname or url


# -- sources -------------------------------------------------------------------------


def _check_scheme(url: str, code: int) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise IngestError(f"unsupported URL scheme {scheme or '(none)'}: only http and https", code)
    return scheme


def normalise_url(url: str) -> str:
    """The URL as recorded and matched: scheme and host lower case, no fragment."""
    parts = urlsplit(url.strip())
    if not parts.hostname:
        raise IngestError(f"{url!r} is not a valid URL", EXIT_INPUT)
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _is_url_like(arg: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", arg) is not None


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


def read_file(path: Path, options: FetchOptions = FetchOptions()) -> Fetched:
    try:
        size = path.stat().st_size
        if size > options.max_bytes:
            raise IngestError(f"file is too large ({size:,} bytes; the limit is {options.max_bytes:,})", EXIT_INPUT)
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror or exc}", EXIT_INPUT) from None
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(f"unsupported file type {path.suffix!r}: use .md, .txt, .html or .pdf", EXIT_INPUT)
    return Fetched(data, fmt)


def _format_of(content_type: str, data: bytes, url: str) -> Format:
    mime = content_type.split(";")[0].strip().lower()
    suffix_fmt = FILE_FORMATS.get(Path(urlsplit(url).path).suffix.lower())
    if mime in _CONTENT_TYPES:
        fmt = _CONTENT_TYPES[mime]
        # Servers often send Markdown as text/plain.
        return "markdown" if fmt == "text" and suffix_fmt == "markdown" else fmt
    head = data[:1024].lstrip().lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if mime in ("", "application/octet-stream", "binary/octet-stream"):
        if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
            return "html"
        if suffix_fmt:
            return suffix_fmt
    raise IngestError(f"unsupported content type {mime or '(none)'!r}: use HTML, PDF, Markdown or plain text",
                      EXIT_INPUT)


def fetch_url(url: str, options: FetchOptions = FetchOptions(), *, transport: Any = None) -> Fetched:
    """Download ``url`` within the size and time limits, following at most ``max_redirects``
    redirects, each of which must stay on http(s)."""
    import httpx

    _check_scheme(url, EXIT_INPUT)
    deadline = time.monotonic() + options.timeout
    current = url
    headers = {"User-Agent": options.user_agent, "Accept": "text/html,application/pdf,text/*;q=0.8,*/*;q=0.5"}
    with httpx.Client(follow_redirects=False, headers=headers, transport=transport) as client:
        for _hop in range(options.max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IngestError(f"timed out after {options.timeout:g} s (see --timeout)", EXIT_NETWORK)
            try:
                # Each network wait gets what is left of the overall budget; the body loop
                # below also checks the deadline, so a trickling server cannot hold us.
                with client.stream("GET", current, timeout=httpx.Timeout(remaining)) as resp:
                    if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                        nxt = urljoin(str(resp.url), resp.headers["location"].strip())
                        if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                            raise IngestError(f"redirect to {nxt.split('?')[0][:100]} refused: only http and https "
                                              "URLs are followed", EXIT_NETWORK)
                        log.info("redirect %s -> %s", current, nxt)
                        current = nxt
                        continue
                    if resp.status_code >= 400:
                        raise IngestError(f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip(), EXIT_NETWORK)
                    if not 200 <= resp.status_code < 300:
                        raise IngestError(f"unexpected HTTP status {resp.status_code}", EXIT_NETWORK)
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > options.max_bytes:
                        raise IngestError(f"too large: {int(declared):,} bytes (the limit is {options.max_bytes:,}; "
                                          "see --max-size)", EXIT_NETWORK)
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        buf.extend(chunk)
                        if len(buf) > options.max_bytes:
                            raise IngestError(f"too large: more than {options.max_bytes:,} bytes (see --max-size)",
                                              EXIT_NETWORK)
                        if time.monotonic() > deadline:
                            raise httpx.ReadTimeout("deadline")
                    data = bytes(buf)
                    fmt = _format_of(resp.headers.get("content-type", ""), data, str(resp.url))
                    return Fetched(data, fmt, str(resp.url), resp.charset_encoding)
            except httpx.TimeoutException:
                raise IngestError(f"timed out after {options.timeout:g} s (see --timeout)", EXIT_NETWORK) from None
            except httpx.ConnectError as exc:
                host = urlsplit(current).netloc
                raise IngestError(f"cannot reach {host}: {_reason(exc)}", EXIT_NETWORK) from None
            except httpx.UnsupportedProtocol:
                raise IngestError(f"redirect to {current[:100]} refused: only http and https", EXIT_NETWORK) from None
            except httpx.InvalidURL as exc:
                raise IngestError(f"invalid URL {current[:100]}: {exc}", EXIT_NETWORK) from None
            except httpx.HTTPError as exc:
                raise IngestError(f"download failed: {_reason(exc)}", EXIT_NETWORK) from None
    raise IngestError(f"too many redirects (more than {options.max_redirects})", EXIT_NETWORK)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)
    return _one_line(text, 160)


# -- extraction ----------------------------------------------------------------------


def _front_matter_has(text: str, keys: Sequence[str]) -> bool:
    """Does the text's front matter (already validated by parse_document) set one of ``keys``?"""
    if not text.startswith("---"):
        return False
    lines = text.replace("\r\n", "\n").split("\n")
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            return False
        if any(re.match(rf"^{k}\s*:\s*\S", line) for k in keys):
            return True
    return False


def _decode_text(data: bytes, charset: str | None) -> str:
    for enc in filter(None, (charset, "utf-8-sig")):
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    raise IngestError("is not UTF-8 text (save it as UTF-8)", EXIT_INPUT)


def extract_html(data: bytes | str, url: str = "", charset: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str, str]:
    """(title, markdown, date) of an HTML page's main content, via trafilatura."""
    import trafilatura
    from trafilatura.settings import set_date_params
    from trafilatura.utils import decode_file

    if isinstance(data, bytes):
        html = None
        if charset:
            try:
                html = data.decode(charset)
            except (LookupError, UnicodeDecodeError):
                html = None
        if html is None:
            html = decode_file(data, max_size=max_bytes)
    else:
        html = data
    kwargs = dict(url=url or None, output_format="markdown", include_formatting=True, include_tables=True,
                  include_links=False, include_images=False, include_comments=False, with_metadata=False)
    markdown = trafilatura.extract(html, **kwargs) or trafilatura.extract(html, favor_recall=True, **kwargs) or ""
    meta = None
    try:
        # Non-extensive date search: a copyright year in a footer is not the page's date.
        meta = trafilatura.extract_metadata(html, default_url=url or None, date_config=set_date_params(False),
                                            extensive=False)
    except Exception:  # noqa: BLE001 - metadata is optional, the text is what matters
        log.debug("metadata extraction failed for %s", url, exc_info=True)
    title = _one_line(getattr(meta, "title", None) or "")
    date = str(getattr(meta, "date", None) or "")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        date = ""
    return title, markdown, date


def _outline_headings(reader: Any) -> dict[int, list[tuple[int, str]]]:
    """Page number -> [(depth, title)] from the PDF's outline (bookmarks)."""
    out: dict[int, list[tuple[int, str]]] = {}

    def walk(items: Iterable[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = _one_line(item.title or "", 200)
            except Exception:  # noqa: BLE001 - a broken bookmark is skipped, not fatal
                continue
            if page is not None and page >= 0 and title:
                out.setdefault(page, []).append((depth, title))

    try:
        walk(reader.outline, 0)
    except Exception:  # noqa: BLE001
        return {}
    return out


def extract_pdf(data: bytes, fallback_lang: Lang = "zh-Hant") -> tuple[str, str, Lang]:
    """(title, markdown, lang) of a PDF's text via pypdf.

    Sections come from the outline (bookmarks) when there is one, else one section per
    page ("Page N", in the document's language) for multi-page documents.
    """
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported crypto, wrong password...
                ok = 0
            if not ok:
                raise IngestError("PDF is encrypted: save an unprotected copy and add that", EXIT_INPUT)
        pages = []
        for page in reader.pages:
            try:
                pages.append(page.extract_text() or "")
            except Exception as exc:  # noqa: BLE001 - one bad page should not lose the rest
                log.warning("cannot extract text of a PDF page: %s", exc)
                pages.append("")
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for damaged files
        raise IngestError(f"not a readable PDF ({_reason(exc)})", EXIT_INPUT) from None
    texts = [reflow(_clean_text(p)) for p in pages]
    if not any(re.search(r"\w", t) for t in texts):
        raise IngestError("no extractable text (scanned PDF?)", EXIT_INPUT)
    lang = detect_lang("\n".join(texts), fallback_lang)
    outline = _outline_headings(reader)
    parts: list[str] = []
    for n, text in enumerate(texts):
        if outline:
            parts.extend("#" * min(6, 2 + depth) + " " + title for depth, title in outline.get(n, []))
        elif len(texts) > 1 and text.strip():
            parts.append("## " + _page_heading(n + 1, lang))
        if text.strip():
            parts.append(text)
    title = ""
    try:
        title = _one_line((reader.metadata or {}).get("/Title") or "")
    except Exception:  # noqa: BLE001
        title = ""
    if _UNTITLED.match(title):
        first = next((ln.strip() for t in pages for ln in t.split("\n") if ln.strip()), "")
        title = first if len(first) <= 120 else ""
    return title, "\n\n".join(parts), lang


def extract(fetched: Fetched, source: Source, *, lang: Lang | None = None, title: str | None = None,
            fallback_lang: Lang = "zh-Hant", max_bytes: int = DEFAULT_MAX_BYTES) -> Extracted:
    """Main text of a fetched source as a Markdown body with ``# Title`` and ``##`` sections."""
    name_title = (_url_title(source.location) if source.kind == "url"
                  else Path(source.key).stem.replace("_", " ").replace("-", " ").strip())
    date = ""
    extra: dict[str, Any] = {}
    found_title = ""
    doc_lang: Lang | None = None
    if fetched.format == "html":
        found_title, text, date = extract_html(fetched.data, fetched.final_url or "", fetched.charset, max_bytes)
    elif fetched.format == "pdf":
        found_title, text, doc_lang = extract_pdf(fetched.data, fallback_lang)
    elif fetched.format == "markdown":
        raw = _decode_text(fetched.data, fetched.charset).encode("utf-8")
        try:
            doc = parse_document(Path(source.key), source.key, raw=raw)
        except CorpusError as exc:
            if exc.message.startswith("has no text"):
                raise IngestError("no text to add (the file is empty)", EXIT_INPUT) from None
            raise IngestError(f"malformed Markdown: {exc.message} (line {exc.line})", EXIT_INPUT) from None
        text = doc.body
        decoded = raw.decode("utf-8-sig")
        # The title: from the front matter, else a heading on the first line, else the file name.
        first_line = next((ln for ln in text.split("\n") if ln.strip()), "")
        heading = _HEADING.match(first_line.strip())
        found_title = (doc.title if _front_matter_has(decoded, ("title",))
                       else heading.group(2) if heading else "")
        date = doc.date
        if _front_matter_has(decoded, ("language", "lang")):
            doc_lang = doc.lang
        for key in ("topic", "licence", "attribution"):
            if getattr(doc, key):
                extra[key] = getattr(doc, key)
        if doc.url:
            extra["url"] = doc.url
        if doc.sources:
            extra["sources"] = list(doc.sources)
    else:  # plain text: a short first line is the title
        text = _clean_text(_decode_text(fetched.data, fetched.charset))
        first, _, rest = text.partition("\n")
        if first.strip() and len(first.strip()) <= 120 and rest.strip():
            found_title, text = first.strip().lstrip("#").strip(), rest
    text = _clean_text(text)
    if not re.search(r"\w", text):
        what = "no main text found in the page" if fetched.format == "html" else "no text to add"
        raise IngestError(what, EXIT_INPUT)
    final_title = _one_line(title or found_title or name_title or "Untitled")
    final_lang: Lang = lang or doc_lang or detect_lang(f"{final_title}\n{text}", fallback_lang)
    return Extracted(final_title, final_lang, normalise_headings(text, final_title), fetched.format, date, extra)


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
