"""Corpus loading: `.md` and `.txt` documents with optional YAML front matter.

A document may start with front matter between two ``---`` lines::

    ---
    title: Executive Order 14330
    language: en              # en | zh-Hant | zh-Hans (detected when absent)
    topic: eo-14330           # shared by the translations of one text
    kind: explainer           # explainer | glossary | article | document
    url: https://www.whitehouse.gov/...
    sources: [https://...]
    date: 2025-08-07          # the date the text describes / facts are as of
    licence: CC BY 4.0
    attribution: Project contributors
    ---

Plain files without front matter work too: the title comes from the first heading
or the file name, the language is detected. A malformed file raises
:class:`CorpusError` naming the file and line; :func:`load_corpus` with
``strict=False`` skips such files and reports them instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .script import LANGS, Lang, detect_document

SUFFIXES = (".md", ".markdown", ".txt")
KINDS = ("explainer", "glossary", "article", "document")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class CorpusError(ValueError):
    """A corpus file that cannot be used, with the file and line to look at."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Document:
    """One corpus document. ``doc_id`` is its path relative to the corpus folder."""

    doc_id: str
    title: str
    lang: Lang
    body: str
    body_line: int = 1  # line number of the body's first line in the file
    topic: str = ""
    kind: str = "document"
    url: str = ""
    sources: tuple[str, ...] = ()
    date: str = ""
    licence: str = ""
    attribution: str = ""
    content_hash: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Corpus:
    root: str
    documents: tuple[Document, ...]
    errors: tuple[CorpusError, ...] = ()

    @property
    def fingerprint(self) -> str:
        """Changes whenever any document's path or content changes."""
        h = hashlib.sha256()
        for doc in self.documents:
            h.update(doc.doc_id.encode("utf-8") + b"\0" + doc.content_hash.encode() + b"\n")
        return h.hexdigest()

    def by_id(self) -> dict[str, Document]:
        return {d.doc_id: d for d in self.documents}


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            raw = "\n".join(lines[1:i])
            try:
                data = yaml.safe_load(raw) if raw.strip() else {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = mark.line + 2 if mark is not None else 2
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise CorpusError(path, line, f"front matter is not valid YAML: {problem}") from None
            except ValueError as exc:  # PyYAML builds dates eagerly: "date: 2025-13-45"
                raise CorpusError(path, _line_of_key(text, "date") or 2, f"front matter has an impossible value: {exc}") from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise CorpusError(path, 2, "front matter must be 'key: value' lines")
            return data, "\n".join(lines[i + 1 :]), i + 2
    raise CorpusError(path, 1, "front matter starts with '---' but has no closing '---' line")


def _line_of_key(text: str, key: str) -> int | None:
    for n, line in enumerate(text.split("\n")[:200], start=1):
        if re.match(rf"^\s*{re.escape(key)}\s*:", line):
            return n
    return None


def _as_date(value: Any, path: Path, text: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    s = str(value).strip()
    for fmt, pattern in (("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"), ("%Y-%m", r"\d{4}-\d{2}"), ("%Y", r"\d{4}")):
        if re.fullmatch(pattern, s):
            try:
                dt.datetime.strptime(s, fmt)
                return s
            except ValueError:
                break
    raise CorpusError(path, _line_of_key(text, "date"), f"date {s!r} is not an ISO date (YYYY-MM-DD)")


def _as_url(value: Any, key: str, path: Path, text: str) -> str:
    s = str(value).strip()
    if not _URL.match(s):
        raise CorpusError(path, _line_of_key(text, key), f"{key} {s!r} is not an http(s) URL")
    return s


def _first_heading(body: str) -> str:
    for line in body.split("\n"):
        m = _HEADING.match(line)
        if m:
            return m.group(2).strip()
    return ""


def parse_document(path: Path, doc_id: str, raw: bytes | None = None) -> Document:
    """Parse one file into a :class:`Document`; raise :class:`CorpusError` if malformed."""
    if raw is None:
        raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CorpusError(path, line, "is not UTF-8 text; save it as UTF-8") from None
    if "\x00" in text:
        raise CorpusError(path, text[: text.index("\x00")].count("\n") + 1, "contains NUL bytes: not a text file")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, body, body_line = _split_front_matter(text, path)
    known = {"title", "language", "lang", "topic", "kind", "url", "source_url", "sources", "date", "as_of",
             "licence", "license", "attribution"}
    for key in ("title", "topic", "kind", "licence", "license", "attribution"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], (str, int, float)):
            raise CorpusError(path, _line_of_key(text, key), f"{key} must be a single line of text")
    lang_value = meta.get("language", meta.get("lang"))
    if lang_value:
        lang_s = str(lang_value).strip()
        aliases = {"zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "zh-cn": "zh-Hans", "zh-hant": "zh-Hant",
                   "zh-hans": "zh-Hans", "en": "en", "en-us": "en", "en-gb": "en"}
        lang = aliases.get(lang_s.lower())
        if lang is None or lang not in LANGS:
            raise CorpusError(path, _line_of_key(text, "language") or _line_of_key(text, "lang"),
                              f"language {lang_s!r} is not one of {', '.join(LANGS)}")
    else:
        lang = detect_document(body, fallback="zh-Hant")
    kind = str(meta.get("kind") or "document").strip()
    if kind not in KINDS:
        raise CorpusError(path, _line_of_key(text, "kind"), f"kind {kind!r} is not one of {', '.join(KINDS)}")
    url_value = meta.get("url", meta.get("source_url"))
    url = _as_url(url_value, "url" if "url" in meta else "source_url", path, text) if url_value else ""
    sources_value = meta.get("sources") or []
    if isinstance(sources_value, str):
        sources_value = [sources_value]
    if not isinstance(sources_value, list):
        raise CorpusError(path, _line_of_key(text, "sources"), "sources must be a list of URLs")
    sources = tuple(_as_url(s, "sources", path, text) for s in sources_value)
    date = _as_date(meta.get("date", meta.get("as_of")), path, text)
    title = str(meta.get("title") or "").strip() or _first_heading(body) or path.stem
    if not body.strip():
        raise CorpusError(path, body_line, "has no text after the front matter")
    return Document(
        doc_id=doc_id,
        title=title,
        lang=lang,  # type: ignore[arg-type]
        body=body,
        body_line=body_line,
        topic=str(meta.get("topic") or "").strip(),
        kind=kind,
        url=url,
        sources=sources,
        date=date,
        licence=str(meta.get("licence", meta.get("license")) or "").strip(),
        attribution=str(meta.get("attribution") or "").strip(),
        content_hash=hashlib.sha256(raw).hexdigest(),
        meta={k: v for k, v in meta.items() if k not in known},
    )


def corpus_files(root: Path) -> list[Path]:
    """Document files under ``root``, in a stable order; hidden files are skipped."""
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            files.append(path)
    return files


def load_corpus(root: Path | str, strict: bool = True) -> Corpus:
    """Load every document under ``root``.

    With ``strict=True`` the first malformed file raises :class:`CorpusError`; with
    ``strict=False`` malformed files are skipped and listed in ``Corpus.errors``.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, None, "corpus folder not found; pass --corpus DIR or set EDUBOT_CORPUS_DIR")
    docs: list[Document] = []
    errors: list[CorpusError] = []
    for path in corpus_files(root):
        doc_id = path.relative_to(root).as_posix()
        try:
            docs.append(parse_document(path, doc_id))
        except CorpusError as exc:
            if strict:
                raise
            errors.append(exc)
        except OSError as exc:
            err = CorpusError(path, None, f"cannot be read: {exc.strerror or exc}")
            if strict:
                raise err from None
            errors.append(err)
    if not docs and not errors:
        raise CorpusError(root, None, f"has no documents ({', '.join(SUFFIXES)} files)")
    return Corpus(str(root), tuple(docs), tuple(errors))
