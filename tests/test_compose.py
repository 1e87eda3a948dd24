"""Answer text helpers (bot.compose): split_message, clean_markdown, render_text."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import messages
from bot.compose import TELEGRAM_LIMIT, Answer, Quote, Source, clean_markdown, render_text, split_message

# --------------------------------------------------------------------------------------
# split_message
# --------------------------------------------------------------------------------------


def assert_reassembles(text: str, parts: list[str]) -> None:
    """``text`` is w0 + parts[0] + w1 + parts[1] + ... + wn with every w whitespace (maybe empty)."""
    pos = 0
    for p in parts:
        i = text.find(p, pos)
        assert i >= 0 and text[pos:i].strip() == "", (pos, i, p[:30])
        pos = i + len(p)
    assert text[pos:].strip() == ""
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)


_SPLIT_ALPHABET = st.sampled_from(list("abcdef 投資退休。，！？;.\n") + ["\n\n", ". ", "。", "\n"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_SPLIT_ALPHABET, max_size=800).map("".join), st.integers(10, 300))
def test_property_split_message_keeps_every_character_and_limit(text: str, limit: int) -> None:
    parts = split_message(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert_reassembles(text, parts)
    if len(text) <= limit:
        assert parts == [text]
    else:
        assert all(p for p in parts)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["第一段內容。", "Second paragraph. ", "\n", "\n\n", "x" * 50]), max_size=300)
       .map("".join))
def test_property_split_message_at_telegram_limit(text: str) -> None:
    parts = split_message(text)
    assert all(len(p) <= TELEGRAM_LIMIT for p in parts)
    assert_reassembles(text, parts)


def test_split_prefers_paragraphs_then_lines_then_sentences() -> None:
    a, b = "a" * 60, "b" * 60
    assert split_message(f"{a}\n\n{b}", 100) == [a, b]
    assert split_message(f"{a}\n{b}", 100) == [a, b]
    assert split_message(f"{'句' * 60}。{'字' * 60}", 100) == ["句" * 60 + "。", "字" * 60]
    assert split_message(f"{a}. {b}", 100) == [f"{a}.", b]
    # No boundary in the last two thirds of the window: a hard cut at the limit.
    assert split_message("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_split_short_text_unchanged() -> None:
    assert split_message("hello\n\n", 100) == ["hello\n\n"]
    assert split_message("") == [""]


@pytest.mark.parametrize("text", ["a" * 10 + "\n\n  ", "a" * 4096 + "   "])
def test_split_never_returns_a_blank_part(text: str) -> None:
    limit = 10 if len(text) < 100 else TELEGRAM_LIMIT
    assert all(p.strip() for p in split_message(text, limit))


# --------------------------------------------------------------------------------------
# clean_markdown
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("See [the release](https://www.dol.gov/x) for details.", "See the release for details."),
        ("**Note**: `custody` __matters__.", "Note: custody matters."),
        ("- a bullet point", "a bullet point"),
        ("* another bullet", "another bullet"),
        ("3. a numbered item", "a numbered item"),
        ("2) another item", "another item"),
        ("| custody | 託管 | safekeeping |", "custody — 託管 — safekeeping"),
        ("|  | 託管 |", "託管"),
        ("  plain text  ", "plain text"),
        ("The rate is 3.5 percent.", "The rate is 3.5 percent."),
        ("[SEC](https://sec.gov) 批准了**現貨**ETF。", "SEC 批准了現貨ETF。"),
    ],
)
def test_clean_markdown(raw: str, clean: str) -> None:
    assert clean_markdown(raw) == clean


def test_clean_markdown_keeps_non_http_link_text_as_is() -> None:
    assert clean_markdown("[a](ftp://x)") == "[a](ftp://x)"


# --------------------------------------------------------------------------------------
# render_text
# --------------------------------------------------------------------------------------


def source(ref: int) -> Source:
    return Source(ref=ref, doc_id=f"explainers/d{ref}.en.md", title=f"Title {ref}", section="Section",
                  date="2026-03-31", url=f"https://www.dol.gov/doc{ref}")


def answer(quotes: list[Quote], lang: str = "en", n_sources: int = 5) -> Answer:
    return Answer(
        question="q",
        lang=lang,  # type: ignore[arg-type]
        no_answer=False,
        quotes=tuple(quotes),
        sources=tuple(source(i) for i in range(1, n_sources + 1)),
        intro="Intro line.",
        footer=messages.text("not_advice", lang),  # type: ignore[arg-type]
    )


def test_render_text_structure() -> None:
    a = answer([Quote("First quote.", 1), Quote("Second quote.", 2), Quote("Third, same source.", 1)])
    text = render_text(a)
    assert text == a.text
    assert text.startswith("Intro line.\n\nFirst quote. [1]\nSecond quote. [2]\nThird, same source. [1]\n\nSources:\n")
    assert "[1] Title 1 — Section (as of 2026-03-31) https://www.dol.gov/doc1" in text
    assert "[2] Title 2" in text
    assert "[3]" not in text  # sources not quoted are not listed
    assert text.endswith(messages.text("not_advice", "en"))


def test_render_text_no_answer_has_no_sources() -> None:
    a = Answer(question="q", lang="zh-Hans", no_answer=True, sources=(source(1),), intro="没有找到。",
               topics=("主题一", "主题二"), footer="仅供教育")
    assert render_text(a) == "没有找到。\n\n• 主题一\n• 主题二\n\n仅供教育"


def test_render_text_many_long_quotes_fits() -> None:
    quotes = [Quote("長句" * 400 + "。", (i % 5) + 1) for i in range(20)]  # 20 x 801 characters
    for lang in ("en", "zh-Hant", "zh-Hans"):
        text = render_text(answer(quotes, lang))
        assert len(text) <= TELEGRAM_LIMIT
        assert text.endswith(messages.text("not_advice", lang))  # footer kept: quotes were dropped instead
        assert f"{quotes[0].text} [1]" in text  # the best quote stays


@settings(max_examples=100, deadline=None)
@example([900] * 30, [1] * 30)
@given(st.lists(st.integers(1, 3000), min_size=1, max_size=25), st.lists(st.integers(1, 5), min_size=25, max_size=25))
def test_property_render_text_within_limit(lengths: list[int], refs: list[int]) -> None:
    quotes = [Quote("字" * (n - 1) + "。", refs[i % len(refs)]) for i, n in enumerate(lengths)]
    a = answer(quotes, "zh-Hant")
    text = render_text(a)
    assert len(text) <= TELEGRAM_LIMIT
    if len(render_text(replace(a, quotes=tuple(quotes[:1])))) <= TELEGRAM_LIMIT:
        # Whenever the best quote fits, the answer is trimmed by whole quotes, best first:
        # no truncation, every shown citation has its source, and the footer stays.
        head = f"{a.intro}\n\n"
        sources_head = "\n\n" + messages.text("sources", a.lang) + ":\n"
        kept = [m for m in range(1, len(quotes) + 1)
                if text.startswith(head + "\n".join(f"{q.text} [{q.ref}]" for q in quotes[:m]) + sources_head)]
        assert len(kept) == 1, kept
        for ref in {q.ref for q in quotes[: kept[0]]}:
            assert f"\n[{ref}] Title {ref}" in text
        assert text.endswith(a.footer)
