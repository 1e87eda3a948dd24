"""Sentence splitting and chunking (bot.chunking): offsets, coverage, sizes, ids, sections, overlap."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.chunking import ChunkSettings, Span, chunk_document, heading_of, sections, split_sentences
from bot.corpus import Document


def texts(body: str, spans: list[Span]) -> list[str]:
    return [body[s.start : s.end] for s in spans]


def doc(body: str, doc_id: str = "explainers/x.en.md") -> Document:
    return Document(doc_id=doc_id, title="t", lang="en", body=body)


# --------------------------------------------------------------------------------------
# split_sentences
# --------------------------------------------------------------------------------------


def test_split_chinese_sentences() -> None:
    text = "勞工部撤回了指引。比特幣波動很大！這是投資建議嗎？不是；僅供教育。"
    assert texts(text, split_sentences(text)) == ["勞工部撤回了指引。", "比特幣波動很大！", "這是投資建議嗎？", "不是；",
                                                  "僅供教育。"]


def test_split_chinese_keeps_closing_quotes_with_the_sentence() -> None:
    text = "勞工部要求「極端謹慎。」其後撤回。"
    assert texts(text, split_sentences(text)) == ["勞工部要求「極端謹慎。」", "其後撤回。"]


def test_split_english_sentences_not_at_decimals_or_abbreviations() -> None:
    text = "The U.S. limit is high. Fees rose 3.5 percent this year. Is that high? Yes!"
    assert texts(text, split_sentences(text)) == [
        "The U.S. limit is high.",
        "Fees rose 3.5 percent this year.",
        "Is that high?",
        "Yes!",
    ]


def test_split_english_sentence_ending_in_a_number() -> None:
    text = "The limit is USD 23,500. Participants aged 50 may add more. It was signed in 2025. It is law."
    assert texts(text, split_sentences(text)) == [
        "The limit is USD 23,500.",
        "Participants aged 50 may add more.",
        "It was signed in 2025.",
        "It is law.",
    ]


def test_split_english_not_after_no_abbreviation() -> None:
    text = "Compliance Assistance Release No. 2022-01 urged extreme care."
    assert texts(text, split_sentences(text)) == [text]


def test_split_at_line_breaks_and_trims_whitespace() -> None:
    text = "  first line without a stop\n\n   second line  \nthird."
    assert texts(text, split_sentences(text)) == ["first line without a stop", "second line", "third."]


def test_split_offsets_are_shifted() -> None:
    body = "XXXX" + "一句。二句。"
    spans = split_sentences(body[4:], 4)
    assert spans == [Span(4, 7), Span(7, 10)]
    assert texts(body, spans) == ["一句。", "二句。"]


def test_split_empty_and_whitespace() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\t\n") == []


# --------------------------------------------------------------------------------------
# headings and sections
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("## Background", (2, "Background")),
        ("### Details ###", (3, "Details")),
        ("# Title", (1, "Title")),
        ("1、加密貨幣叩開養老金大門的背後", (2, "1、加密貨幣叩開養老金大門的背後")),
        ("2. Background", (2, "2. Background")),
        ("三、結論", (2, "三、結論")),
        ("1、這是一個完整的句子。", None),  # ends like a sentence: body text, not a heading
        ("2、首先，", None),
        ("1、" + "很長的句子" * 12, None),  # too long for a heading
        ("plain text", None),
        ("#hashtag", None),
    ],
)
def test_heading_of(line: str, expected: tuple[int, str] | None) -> None:
    assert heading_of(line) == expected


def test_numbered_list_item_sentence_is_body_text() -> None:
    body = "## Steps\n1. Contributions are made before tax.\n2. Earnings grow tax-deferred.\n"
    assert heading_of("1. Contributions are made before tax.") is None
    text = " ".join(c.text for c in chunk_document(doc(body)))
    assert "Contributions are made before tax." in text


@pytest.mark.parametrize("line", ["1、勞工部要求「極端謹慎。」", "4.2萬億美元流入退休帳戶。」"])
def test_sentence_ending_in_a_closing_quote_is_not_a_heading(line: str) -> None:
    assert heading_of(line) is None


def test_sections_markdown_and_numbered_plain_text() -> None:
    body = "# Title\nIntro text.\n## First\nA.\n### Sub\nB.\n1、第二部分\nC。\n## Empty\n\n"
    secs = sections(body)
    assert [(s.heading, body[s.start : s.end].strip()) for s in secs] == [
        ("", "Intro text."),
        ("First", "A."),
        ("First › Sub", "B."),
        ("1、第二部分", "C。"),
    ]


def test_chunk_section_in_the_seed_article_style() -> None:
    body = "導言第一句。\n1、加密貨幣叩開養老金大門的背後\n第一節的內容。\n2、潛在影響\n第二節的內容。"
    chunks = chunk_document(doc(body), ChunkSettings(size=50, overlap=0))
    assert [(c.section, c.text) for c in chunks] == [
        ("", "導言第一句。"),
        ("1、加密貨幣叩開養老金大門的背後", "第一節的內容。"),
        ("2、潛在影響", "第二節的內容。"),
    ]


# --------------------------------------------------------------------------------------
# ChunkSettings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "overlap"), [(49, 0), (0, 0), (100, 100), (100, 150), (100, -1)])
def test_chunk_settings_rejects_bad_values(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk"):
        ChunkSettings(size=size, overlap=overlap)


@pytest.mark.parametrize(("size", "overlap"), [(50, 0), (50, 49), (400, 80)])
def test_chunk_settings_accepts_good_values(size: int, overlap: int) -> None:
    assert ChunkSettings(size, overlap).size == size


def test_defaults() -> None:
    assert ChunkSettings() == ChunkSettings(400, 80)


# --------------------------------------------------------------------------------------
# Generated documents
# --------------------------------------------------------------------------------------

# Chinese words with no numeral first character, so no content line can look like "一、標題".
_ZH_WORDS = ["勞工部", "退休帳戶", "比特幣", "加密貨幣", "受託人", "養老金", "投資選單", "監管機構", "風險", "規則",
             "撤回", "指引", "現貨", "基金", "私募股權", "僱主", "供款", "上限", "美元", "波動", "4.2萬億", "401(k)",
             "股票、債券", "「極端謹慎」", "的", "在", "了"]
_EN_WORDS = ["plan", "fiduciary", "the", "rule", "crypto", "assets", "U.S.", "3.5", "percent", "$23,500", "401(k)",
             "Labor", "Department", "e.g.", "risk", "fees", "ERISA", "2026"]
_EN_START = ["The", "A", "Plans", "Fiduciaries", "Investors", "Bitcoin", "Sponsors"]
_TITLE_ZH = ["背景", "潛在影響", "加密貨幣叩開養老金大門的背後", "規則", "受託人義務"]
_TITLE_EN = ["Background", "What changed", "Fees and risks", "Custody"]
_RUN_CHARS = "abcdefghij投資風險退休金計劃"


@dataclass
class GenDoc:
    body: str
    heading_lines: list[tuple[int, int]] = field(default_factory=list)  # [start, end) of each heading line
    heading_starts: list[int] = field(default_factory=list)
    heading_paths: list[str] = field(default_factory=list)  # expected section after each heading


# A line starting with a number ("4.2萬億..." or "401(k)...") may read as a numbered heading
# (see test_sentence_ending_in_a_closing_quote_is_not_a_heading), so sentences start with a word.
zh_sentence = st.builds(
    lambda first, words, end: first + "".join(words) + end,
    st.sampled_from([w for w in _ZH_WORDS if not w[0].isdigit()]),
    st.lists(st.sampled_from(_ZH_WORDS), max_size=11),
    st.sampled_from(["。", "！", "？", "；", "。」"]),
)
en_sentence = st.builds(
    lambda first, words, end: " ".join([first, *words]) + end,
    st.sampled_from(_EN_START),
    st.lists(st.sampled_from(_EN_WORDS), max_size=14),
    st.sampled_from([".", ".", "?", "!"]),
)
paragraph = st.builds(
    lambda sents: " ".join(sents) if sents[0][-1] in ".?!" else "".join(sents),
    st.lists(st.one_of(zh_sentence, en_sentence), min_size=1, max_size=8),
)
# Long runs without sentence punctuation (some with spaces or commas to cut at, some without).
# Built from a slice of a fixed pseudo-random string: drawing hundreds of characters one by
# one makes generation several times slower without finding anything new.
_RUN_SOURCE = "".join(_RUN_CHARS[(i * i * 7 + i * 3) % len(_RUN_CHARS)] for i in range(2000))
long_run = st.builds(
    lambda first, offset, n, sep, every: first
    + "".join(c + (sep if sep and i % every == every - 1 else "")
              for i, c in enumerate(_RUN_SOURCE[offset : offset + n])),
    st.sampled_from("投資退休abc"),
    st.integers(0, 1000),
    st.integers(60, 900),
    st.sampled_from(["", " ", "，", ","]),
    st.integers(7, 40),
)
md_heading = st.tuples(st.just("md"), st.sampled_from([2, 3]), st.sampled_from(_TITLE_ZH + _TITLE_EN))
num_heading = st.tuples(
    st.just("num"),
    st.sampled_from(["1", "2", "12", "一", "三", "十一"]),
    st.sampled_from(["、", ". ", "．", "）", ")"]),
    st.sampled_from(_TITLE_ZH + _TITLE_EN),
)
block = st.one_of(
    paragraph.map(lambda p: ("text", p)),
    paragraph.map(lambda p: ("text", p)),
    long_run.map(lambda r: ("text", r)),
    st.just(("text", "")),  # blank line
    md_heading,
    num_heading,
)


@st.composite
def documents(draw: st.DrawFn) -> GenDoc:
    blocks = draw(st.lists(block, min_size=1, max_size=14))
    lines: list[str] = []
    g = GenDoc("")
    if draw(st.booleans()):
        blocks = [("h1", draw(st.sampled_from(_TITLE_EN + _TITLE_ZH))), *blocks]
    level2: str | None = None
    pos = 0
    for b in blocks:
        if b[0] == "text":
            line = b[1]
        else:
            if b[0] == "h1":
                line, path = f"# {b[1]}", ""
            elif b[0] == "md":
                line = "#" * b[1] + " " + b[2]
                if b[1] == 2:
                    level2, path = b[2], b[2]
                else:  # a level-3 heading is named with the level-2 heading above it, if any
                    path = f"{level2} › {b[2]}" if level2 else b[2]
            else:
                line = f"{b[1]}{b[2]}{b[3]}"
                level2 = path = line
            g.heading_lines.append((pos, pos + len(line)))
            g.heading_starts.append(pos)
            g.heading_paths.append(path)
        lines.append(line)
        pos += len(line) + 1
    g.body = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))
    return g


chunk_settings = st.integers(50, 300).flatmap(
    lambda size: st.builds(ChunkSettings, st.just(size), st.integers(0, min(size - 1, 120)))
)


def expected_section(g: GenDoc, offset: int) -> str:
    i = bisect.bisect_right(g.heading_starts, offset) - 1
    return g.heading_paths[i] if i >= 0 else ""


@settings(max_examples=120, deadline=None)
@given(documents(), chunk_settings)
def test_property_generated_documents_have_only_the_intended_headings(g: GenDoc, cs: ChunkSettings) -> None:
    # A check on the generator: the other properties rely on knowing where headings are.
    found = []
    pos = 0
    for line in g.body.split("\n"):
        if heading_of(line) is not None:
            found.append((pos, pos + len(line)))
        pos += len(line) + 1
    assert found == g.heading_lines


@settings(max_examples=120, deadline=None)
@given(documents(), chunk_settings)
def test_property_offsets_point_at_the_text(g: GenDoc, cs: ChunkSettings) -> None:
    body = g.body
    for c in chunk_document(doc(body), cs):
        assert body[c.start : c.end] == c.text
        assert c.text and not c.text[0].isspace()
        assert c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        for s in c.sentences:
            assert c.start <= s.start < s.end <= c.end
        assert all(a.end <= b.start for a, b in zip(c.sentences, c.sentences[1:]))


@settings(max_examples=120, deadline=None)
@given(documents(), chunk_settings)
def test_property_no_text_is_lost(g: GenDoc, cs: ChunkSettings) -> None:
    body = g.body
    covered = bytearray(len(body))
    for c in chunk_document(doc(body), cs):
        covered[c.start : c.end] = b"\1" * (c.end - c.start)
    for start, end in g.heading_lines:
        covered[start:end] = b"\1" * (end - start)
    lost = [i for i, ch in enumerate(body) if not ch.isspace() and not covered[i]]
    assert not lost, [body[i] for i in lost[:20]]


@settings(max_examples=120, deadline=None)
@given(documents(), chunk_settings)
def test_property_chunks_and_sentences_fit_the_size(g: GenDoc, cs: ChunkSettings) -> None:
    # _hard_split cuts every over-long sentence into pieces of at most `size` characters, and
    # a chunk only adds a sentence while the chunk stays within `size`, so there is no exception.
    for c in chunk_document(doc(g.body), cs):
        assert len(c.text) <= cs.size
        assert all(s.end - s.start <= cs.size for s in c.sentences)


@settings(max_examples=100, deadline=None)
@given(documents(), chunk_settings)
def test_property_stable_ids(g: GenDoc, cs: ChunkSettings) -> None:
    first = chunk_document(doc(g.body, "a/b.zh-Hant.md"), cs)
    second = chunk_document(doc(g.body, "a/b.zh-Hant.md"), cs)
    assert first == second
    assert [c.chunk_id for c in first] == [f"a/b.zh-Hant.md#{n}" for n in range(len(first))]
    assert [c.ordinal for c in first] == list(range(len(first)))
    assert all(c.doc_id == "a/b.zh-Hant.md" for c in first)


@settings(max_examples=120, deadline=None)
@given(documents(), chunk_settings)
def test_property_section_is_the_nearest_heading_above(g: GenDoc, cs: ChunkSettings) -> None:
    for c in chunk_document(doc(g.body), cs):
        assert c.section == expected_section(g, c.start)
        # A chunk never crosses a heading line.
        assert not any(c.start < h < c.end for h in g.heading_starts)


@settings(max_examples=120, deadline=None)
@given(documents(), chunk_settings)
def test_property_overlap_is_bounded(g: GenDoc, cs: ChunkSettings) -> None:
    chunks = chunk_document(doc(g.body), cs)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start > a.start  # progress
        if a.section == b.section and b.start < a.end:
            assert a.end - b.start <= cs.overlap
            # The overlap is made of whole sentences of the previous chunk.
            assert b.start in {s.start for s in a.sentences}
        if cs.overlap == 0:
            assert b.start >= a.end


@example(GenDoc("勞工部。勞工部。Fiduciaries plan plan plan plan plan plan plan."), ChunkSettings(50, 4))
@settings(max_examples=100, deadline=None)
@given(documents(), chunk_settings)
def test_property_every_chunk_adds_new_text(g: GenDoc, cs: ChunkSettings) -> None:
    chunks = chunk_document(doc(g.body), cs)
    for a, b in zip(chunks, chunks[1:]):
        assert b.end > a.end, (a.text, b.text)


def test_overlap_repeats_trailing_sentences() -> None:
    body = "".join(f"第{i}句話在這裡。" for i in range(10))  # 8 characters each
    chunks = chunk_document(doc(body), ChunkSettings(size=50, overlap=20))
    assert len(chunks) > 1
    for a, b in zip(chunks, chunks[1:]):
        assert 0 < a.end - b.start <= 20
        assert len(a.text) <= 50


def test_hard_split_prefers_a_comma_near_the_limit() -> None:
    body = "，".join(["投資風險退休金計劃"] * 20)  # one 199-character sentence with commas
    chunks = chunk_document(doc(body), ChunkSettings(size=50, overlap=0))
    assert "".join(c.text for c in chunks) == body
    assert all(c.text.endswith("，") for c in chunks[:-1])
    assert all(len(c.text) <= 50 for c in chunks)
