"""CJK-aware sentence splitting and chunking with stable ids and character offsets.

Sections come from Markdown headings (``#``..``######``) and from numbered heading
lines in plain text (``1、標題``, ``2. Title``). Sentences end at 。！？；!?; or at a
Western full stop followed by a space, and at line breaks. Chunks gather whole
sentences up to ``size`` characters and repeat up to ``overlap`` characters of
trailing sentences at the start of the next chunk. Every chunk records its section
and its ``[start, end)`` offsets into the document body, so ``body[start:end] ==
chunk.text`` and a citation can point at the exact text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .corpus import Document

_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
# A short plain-text line such as "1、加密貨幣叩開養老金大門的背後" or "2. Background".
_NUM_HEADING = re.compile(r"^\s*(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*[、.．)）]\s*(\S.{0,48})$")
_TERMINALS = "。！？；!?;"
_CLOSERS = "」』”’\"')）】》"
_SENTENCE_END = re.compile(
    rf"[{re.escape(_TERMINALS)}]+[{re.escape(_CLOSERS)}]*"  # CJK and !?; enders
    rf"|\.(?=[{re.escape(_CLOSERS)}]*\s)[{re.escape(_CLOSERS)}]*"  # "end. Next" (not "3.5": no space)
    r"|\n"
)
# Words whose full stop does not end a sentence: "No. 2022-01", "Hughes v. Northwestern",
# "e.g.", and single capitals as in "U.S." or "D.C.".
_ABBREVIATION = re.compile(
    r"(?:\b(?:no|nos|v|vs|e\.g|i\.e|etc|mr|mrs|ms|dr|st|jr|sr|inc|corp|co|ltd|art|sec|para|fig|approx|jan|feb|mar|apr|"
    r"jun|jul|aug|sep|sept|oct|nov|dec)|\b[A-Z]|(?:\b[A-Za-z]\.)+[A-Za-z])$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Section:
    heading: str  # "" for text before the first heading
    level: int
    start: int  # body offset of the section text (after its heading line)
    end: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable passage. ``text == document.body[start:end]``."""

    chunk_id: str
    doc_id: str
    ordinal: int
    section: str
    text: str
    start: int
    end: int
    sentences: tuple[Span, ...]  # offsets relative to the document body


@dataclass(frozen=True, slots=True)
class ChunkSettings:
    size: int = 400
    overlap: int = 80

    def __post_init__(self) -> None:
        if self.size < 50:
            raise ValueError("chunk size must be at least 50 characters")
        if not 0 <= self.overlap < self.size:
            raise ValueError("chunk overlap must be between 0 and the chunk size")


def heading_of(line: str) -> tuple[int, str] | None:
    """(level, text) when ``line`` is a heading line, else None."""
    m = _MD_HEADING.match(line)
    if m:
        return len(m.group(1)), m.group(2).strip()
    m = _NUM_HEADING.match(line)
    if m:
        bare = line.strip().rstrip(_CLOSERS)
        # A numbered line that reads like a sentence ("1. Contributions are made before
        # tax.", "4.2萬億美元流入。」") is body text, not a heading.
        if re.search(rf"[{re.escape(_TERMINALS)}，,：:.]$", bare) or re.search(rf"[{re.escape(_TERMINALS)}]", bare):
            return None
        if re.match(r"^\s*\d+[.．]\d", line):
            return None
        return 2, line.strip()
    return None


def sections(body: str) -> list[Section]:
    """Split a body into sections at heading lines; heading lines belong to no section text."""
    out: list[Section] = []
    stack: list[tuple[int, str]] = []
    current = ""
    level = 0
    start = 0
    pos = 0
    for line in body.split("\n"):
        line_end = pos + len(line)
        h = heading_of(line)
        if h is not None:
            out.append(Section(current, level, start, pos))
            lvl, text = h
            if lvl == 1 and not stack:
                # A document's H1 is its title: sections below it are named without it.
                stack = [(1, text)]
                current = ""
            else:
                stack = [(l, t) for l, t in stack if l < lvl and l > 1] + [(lvl, text)]
                current = " › ".join(t for _, t in stack)
            level = lvl
            start = min(line_end + 1, len(body))
        pos = line_end + 1
    out.append(Section(current, level, start, len(body)))
    return [s for s in out if body[s.start : s.end].strip()]


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentence spans of ``text`` (shifted by ``offset``), trimmed of surrounding whitespace."""
    spans: list[Span] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.group().startswith(".") and _ABBREVIATION.search(text[max(start, m.start() - 12) : m.start()]):
            continue
        end = m.end()
        _add_trimmed(text, start, end, offset, spans)
        start = end
    _add_trimmed(text, start, len(text), offset, spans)
    return spans


def _add_trimmed(text: str, start: int, end: int, offset: int, spans: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append(Span(start + offset, end + offset))


def _hard_split(span: Span, size: int, body: str) -> list[Span]:
    """Split an over-long sentence, preferring a comma or space near the limit."""
    pieces: list[Span] = []
    start = span.start
    while span.end - start > size:
        cut = start + size
        window = body[start + size // 2 : cut]
        for sep in ("，", ",", "、", " ", "："):
            i = window.rfind(sep)
            if i >= 0:
                cut = start + size // 2 + i + 1
                break
        pieces.append(Span(start, cut))
        start = cut
        while start < span.end and body[start].isspace():
            start += 1
    if start < span.end:
        pieces.append(Span(start, span.end))
    return pieces


def chunk_document(doc: Document, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Chunks of whole sentences within each section of ``doc``."""
    body = doc.body
    chunks: list[Chunk] = []
    for sec in sections(body):
        sents: list[Span] = []
        for s in split_sentences(body[sec.start : sec.end], sec.start):
            sents.extend(_hard_split(s, settings.size, body) if s.end - s.start > settings.size else [s])
        i = 0
        while i < len(sents):
            j = i
            while j < len(sents) and (j == i or sents[j].end - sents[i].start <= settings.size):
                j += 1
            group = sents[i:j]
            start, end = group[0].start, group[-1].end
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}#{len(chunks)}",
                    doc_id=doc.doc_id,
                    ordinal=len(chunks),
                    section=sec.heading,
                    text=body[start:end],
                    start=start,
                    end=end,
                    sentences=tuple(group),
                )
            )
            if j >= len(sents):
                break
            # Start the next chunk with trailing sentences that fit in the overlap, as long
            # as the next new sentence still fits: a chunk of only old text adds nothing.
            k = j
            while (k - 1 > i and sents[j - 1].end - sents[k - 1].start <= settings.overlap
                   and sents[j].end - sents[k - 1].start <= settings.size):
                k -= 1
            i = k
    return chunks
