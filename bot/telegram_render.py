"""Telegram HTML rendering of answers and passages.

Every passage, title and user string goes through :func:`html.escape`. Lines are kept
short (:data:`MAX_LINE`) so long texts split at the 4,096-character limit on line
boundaries (:func:`bot.compose.split_message`), never inside a tag or an entity.
Imports nothing from python-telegram-bot.
"""

from __future__ import annotations

import html
import re

from . import messages
from .compose import TELEGRAM_LIMIT, Answer, Passage, Source, clean_markdown, split_message
from .script import Lang, to_script
from .telegram_texts import t

MAX_LINE = 1200  # escaped characters per line, so splits always fall between lines


# -- rendering ------------------------------------------------------------------------------
def esc(text: str) -> str:
    return html.escape(text or "")


def _wrap(raw: str, width: int = 900) -> list[str]:
    """Escaped lines of at most MAX_LINE characters (long texts split at sentence ends)."""
    out: list[str] = []
    for piece in split_message(raw, width) if raw else []:
        e = esc(piece)
        if len(e) > MAX_LINE and len(piece) > 1:
            out.extend(_wrap(piece, max(1, len(piece) // 2)))
        else:
            out.append(e)
    return out


def esc_text(raw: str) -> str:
    """Escape a possibly long plain text, keeping every line short (see :func:`split_html`)."""
    return "\n".join("\n".join(_wrap(line)) if len(line) > 900 else esc(line) for line in raw.split("\n"))


def split_html(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split HTML whose lines are all short and self-contained into messages of at most ``limit``.

    Every line built here is below a third of ``limit``, so :func:`split_message`
    always cuts between lines, never inside a tag or an entity.
    """
    return split_message(text, limit)


def _is_url(url: str) -> bool:
    return bool(url) and url.startswith(("https://", "http://"))


def link(label: str, url: str) -> str:
    return f'<a href="{esc(url)}">{esc(label)}</a>' if _is_url(url) else esc(label)


def source_html(src: Source, lang: Lang, traditional: str) -> str:
    parts = [to_script(src.title, lang, traditional)]
    if src.section:
        parts.append(to_script(src.section, lang, traditional))
    line = f"[{src.ref}] " + link(" — ".join(parts), src.url)
    if src.date:
        line += f" ({esc(messages.text('as_of', lang))} {esc(src.date)})"
    return line


def render_answer(answer: Answer, traditional: str, limit: int | None = None, header: str = "") -> str:
    """The answer as Telegram HTML: intro, quotes with [n], numbered sources, footer.

    With ``limit``, quotes are dropped from the end until the text fits (inline results
    must fit one message); otherwise the caller splits with :func:`split_html`.
    """
    lang = answer.lang
    blocks: list[str] = [header] if header else []
    if answer.intro:
        blocks.append(esc_text(answer.intro))
    if answer.topics:
        blocks.append("\n".join(f"• {esc(t_)}" for t_ in answer.topics))
    quotes = list(answer.quotes)
    while True:
        body = list(blocks)
        if quotes:
            body.append("\n".join(f"{esc_text(q.text)} [{q.ref}]" for q in quotes))
        used = {q.ref for q in quotes}
        shown = [s for s in answer.sources if s.ref in used]
        if shown:
            body.append(f"<b>{esc(messages.text('sources', lang))}</b>\n"
                        + "\n".join(source_html(s, lang, traditional) for s in shown))
        if answer.footer:
            body.append(f"<i>{esc(answer.footer)}</i>")
        out = "\n\n".join(b for b in body if b)
        if limit is None or len(out) <= limit or len(quotes) <= 1:
            return out if limit is None else out[:limit]
        quotes.pop()


def passage_heading(p: Passage, lang: str) -> str:
    label = p.title + (f" — {p.section}" if p.section else "")
    line = f"<b>#{p.rank}</b> " + link(label, p.url)
    if p.date:
        line += f" ({esc(t('as_of', lang))} {esc(p.date)})"
    return line


_TABLE_RULE = re.compile(r"^[\s|:\-]+$")


def clean_passage(text: str) -> str:
    """Passage text without Markdown markup; table rows become "a — b" lines."""
    lines = (clean_markdown(line) for line in text.split("\n") if not _TABLE_RULE.match(line) or not line.strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def render_passage(p: Passage, lang: str) -> str:
    return passage_heading(p, lang) + "\n\n" + esc_text(clean_passage(p.text))


def excerpt(text: str, n: int = 280) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def cited_ranks(answer: Answer, traditional: str) -> dict[int, int]:
    """Source ref -> rank of the passage its quotes came from."""
    out: dict[int, int] = {}
    for s in answer.sources:
        section = to_script(s.section, answer.lang, traditional)
        match = next((p for p in answer.passages if p.doc_id == s.doc_id and p.section == section), None)
        match = match or next((p for p in answer.passages if p.doc_id == s.doc_id), None)
        if match is not None:
            out[s.ref] = match.rank
    return out


__all__ = [
    "MAX_LINE", "cited_ranks", "clean_passage", "esc", "esc_text", "excerpt", "link", "passage_heading",
    "render_answer", "render_passage", "source_html", "split_html",
]
