"""Extracting the main text of a fetched source as a Markdown body.

trafilatura for HTML, pypdf for PDF (sections from the PDF outline, else one per page,
with hard-wrapped lines reflowed into paragraphs), and cleanup for Markdown and plain
text. The result is an :class:`Extracted`: a ``# Title`` then ``## `` sections, with
the document's language (:func:`detect_lang`) and any date found.

trafilatura and pypdf are imported inside the functions that need them: importing this
module costs nothing extra.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .corpus import CorpusError, parse_document
from .fetch import DEFAULT_MAX_BYTES, Fetched, Format, Source
from .ingest_errors import EXIT_INPUT, IngestError, _one_line, _reason
from .script import Lang, cjk_count
from .script import detect_document as detect_lang

log = logging.getLogger(__name__)

_CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TERMINAL_END = re.compile(r"[.。!?！？:：;；」』”)）]\s*$")
_BULLET_START = re.compile(r"^\s*(?:[-•·*▪◦]|\d{1,2}[.)、])\s*")
_UNTITLED = re.compile(r"^(untitled|microsoft word - .*|document\d*|\s*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Extracted:
    """Main text of a source as a Markdown body (``# Title`` then ``## `` sections)."""

    title: str
    lang: Lang
    body: str
    format: Format
    date: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # front matter carried over from a .md source


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _CONTROL.sub("", text)
    lines = [ln.rstrip() for ln in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()



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

