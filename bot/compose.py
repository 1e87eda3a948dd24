"""Answer composition: quotes with citation markers, numbered sources, script, length.

Answers are extractive: a few sentences taken from the best passages, each followed
by the number of its source, then the sources (title, section, date, URL) and a
not-advice footer, all rendered in the asker's script. :func:`render_text` gives
the plain-text form used by the command line; other front ends render the same
:class:`Answer` their own way (Telegram uses HTML).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from . import messages
from .conversation import Turn
from .script import Lang, to_script

TELEGRAM_LIMIT = 4096

_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)]+)\)")
_MD_MARK = re.compile(r"(\*\*|__|`)")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True, slots=True)
class Source:
    ref: int
    doc_id: str
    title: str
    section: str
    date: str
    url: str


@dataclass(frozen=True, slots=True)
class Quote:
    text: str  # in the reader's script
    ref: int  # the Source it comes from
    original_lang: str = ""


@dataclass(frozen=True, slots=True)
class Passage:
    rank: int
    doc_id: str
    title: str
    section: str
    url: str
    date: str
    text: str  # in the reader's script
    score: float
    chunk_id: str = ""
    lang: str = ""


@dataclass(frozen=True)
class Answer:
    question: str
    lang: Lang
    no_answer: bool
    quotes: tuple[Quote, ...] = ()
    sources: tuple[Source, ...] = ()
    passages: tuple[Passage, ...] = ()
    intro: str = ""
    topics: tuple[str, ...] = ()
    footer: str = ""
    advice: bool = False
    mixed: bool = False
    follow_up: bool = False
    resolved: str = ""
    debug: dict[str, Any] = field(default_factory=dict)
    turn: Turn | None = None  # what the caller appends to its Conversation

    @property
    def text(self) -> str:
        return render_text(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "no_answer": self.no_answer,
            "lang": self.lang,
            "mixed": self.mixed,
            "advice": self.advice,
            "follow_up": self.follow_up,
            "passages": [
                {k: v for k, v in asdict(p).items() if k in
                 ("rank", "doc_id", "title", "section", "url", "date", "text", "score")}
                for p in self.passages
            ],
            "sources": [asdict(s) for s in self.sources],
        }


def clean_markdown(text: str) -> str:
    """Sentence text without Markdown markup (links keep their words)."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_MARK.sub("", text)
    text = _BULLET.sub("", text)
    if text.strip().startswith("|") and text.strip().endswith("|"):
        cells = [c.strip() for c in text.strip().strip("|").split("|")]
        text = " — ".join(c for c in cells if c)
    return text.strip()


def source_line(src: Source, lang: Lang, traditional: str = "s2t") -> str:
    parts = [to_script(src.title, lang, traditional)]
    if src.section:
        parts.append(to_script(src.section, lang, traditional))
    line = f"[{src.ref}] " + " — ".join(parts)
    if src.date:
        line += f" ({messages.text('as_of', lang)} {src.date})"
    if src.url:
        line += f" {src.url}"
    return line


def render_text(answer: Answer) -> str:
    """Plain text, trimmed to Telegram's 4,096-character limit."""
    lang = answer.lang
    blocks: list[str] = []
    if answer.intro:
        blocks.append(answer.intro)
    if answer.topics:
        blocks.append("\n".join(f"• {t}" for t in answer.topics))
    quotes = list(answer.quotes)
    sources = list(answer.sources)
    while True:
        body = [*blocks]
        if quotes:
            body.append("\n".join(f"{q.text} [{q.ref}]" for q in quotes))
        used = {q.ref for q in quotes}
        shown = [s for s in sources if s.ref in used] if quotes else []
        if shown:
            body.append(messages.text("sources", lang) + ":\n" + "\n".join(source_line(s, lang) for s in shown))
        if answer.footer:
            body.append(answer.footer)
        out = "\n\n".join(b for b in body if b)
        if len(out) <= TELEGRAM_LIMIT:
            return out
        if len(quotes) > 1:
            quotes.pop()
            continue
        # One quote too long for a message: shorten it, keep the sources and footer.
        q = quotes[0]
        keep = max(0, len(q.text) - (len(out) - TELEGRAM_LIMIT) - 1)
        if keep == 0 or keep >= len(q.text):
            return out[:TELEGRAM_LIMIT]
        quotes[0] = Quote(q.text[:keep].rstrip() + "…", q.ref, q.original_lang)


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at paragraph, then line, then sentence boundaries into parts of at most ``limit``."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for sep in ("\n\n", "\n", "。", ". ", "！", "？", "; ", " "):
            i = window.rfind(sep)
            if i > limit // 3:
                cut = i + len(sep)
                break
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest:
        parts.append(rest)
    return [p for p in parts if p.strip()]
