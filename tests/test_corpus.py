"""Corpus loading (bot.corpus) on small temporary files, and checks of the bundled corpus (issue 3)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot.corpus import Corpus, CorpusError, corpus_files, load_corpus, parse_document

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SEED = REPO.parent / "shared" / "corpus-seed" / "401k-crypto-article.zh-Hant.txt"

FULL = """---
title: "Executive Order 14330"
language: en
topic: eo-14330
kind: explainer
url: https://www.whitehouse.gov/presidential-actions/2025/08/x/
sources:
  - https://www.dol.gov/a
  - https://www.sec.gov/b
date: 2025-08-07
licence: CC BY 4.0
attribution: Project contributors
reviewed_by: someone
---
# Executive Order 14330

## What it is
Text.
"""


def write(dir_: Path, name: str, text: str | bytes) -> Path:
    path = dir_ / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def parse(tmp_path: Path, text: str | bytes, name: str = "doc.md"):
    return parse_document(write(tmp_path, name, text), name)


def error_of(tmp_path: Path, text: str | bytes, name: str = "doc.md") -> CorpusError:
    with pytest.raises(CorpusError) as info:
        parse(tmp_path, text, name)
    err = info.value
    assert err.path.endswith(name)
    assert str(err).startswith(err.path)
    return err


# --------------------------------------------------------------------------------------
# Front matter
# --------------------------------------------------------------------------------------


def test_front_matter_all_fields(tmp_path: Path) -> None:
    d = parse(tmp_path, FULL)
    assert d.doc_id == "doc.md"
    assert d.title == "Executive Order 14330"
    assert d.lang == "en"
    assert d.topic == "eo-14330"
    assert d.kind == "explainer"
    assert d.url == "https://www.whitehouse.gov/presidential-actions/2025/08/x/"
    assert d.sources == ("https://www.dol.gov/a", "https://www.sec.gov/b")
    assert d.date == "2025-08-07"
    assert d.licence == "CC BY 4.0"
    assert d.attribution == "Project contributors"
    assert d.meta == {"reviewed_by": "someone"}
    assert d.body.startswith("# Executive Order 14330\n")
    assert d.body_line == 15
    assert FULL.split("\n")[d.body_line - 1] == "# Executive Order 14330"
    assert len(d.content_hash) == 64


def test_sources_flow_list_and_single_string(tmp_path: Path) -> None:
    d = parse(tmp_path, "---\nsources: [https://a.example/x, http://b.example/y]\n---\nbody\n")
    assert d.sources == ("https://a.example/x", "http://b.example/y")
    d = parse(tmp_path, "---\nsources: https://a.example/x\n---\nbody\n")
    assert d.sources == ("https://a.example/x",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2025-08-07", "2025-08-07"), ("'2025-08-07'", "2025-08-07"),
     ("2025-08-07 10:30:00", "2025-08-07"), ("2025-08", "2025-08"), ("2025", "2025"), ('""', "")],
)
def test_date_as_yaml_date_or_string(tmp_path: Path, value: str, expected: str) -> None:
    assert parse(tmp_path, f"---\ndate: {value}\n---\nbody\n").date == expected


def test_unpadded_date_is_normalised_or_rejected(tmp_path: Path) -> None:
    try:
        date = parse(tmp_path, "---\ndate: 2025-8-7\n---\nbody\n").date
    except CorpusError:
        return
    assert date == "2025-08-07"


def test_as_of_and_source_url_aliases(tmp_path: Path) -> None:
    d = parse(tmp_path, "---\nas_of: 2026-03-31\nsource_url: https://a.example/\nlicense: MIT\n---\nbody\n")
    assert (d.date, d.url, d.licence) == ("2026-03-31", "https://a.example/", "MIT")


@pytest.mark.parametrize(
    ("value", "lang"),
    [("en", "en"), ("en-US", "en"), ("en-gb", "en"), ("zh-Hant", "zh-Hant"), ("zh-TW", "zh-Hant"),
     ("zh-hk", "zh-Hant"), ("ZH-HANT", "zh-Hant"), ("zh-Hans", "zh-Hans"), ("zh-CN", "zh-Hans")],
)
def test_language_aliases(tmp_path: Path, value: str, lang: str) -> None:
    assert parse(tmp_path, f"---\nlanguage: {value}\n---\n这是简体正文。\n").lang == lang
    assert parse(tmp_path, f"---\nlang: {value}\n---\n這是正文。\n").lang == lang


def test_front_matter_closed_with_dots_and_bom_and_crlf(tmp_path: Path) -> None:
    d = parse(tmp_path, "\ufeff---\r\ntitle: T\r\n...\r\nline one\r\nline two\r\n")
    assert d.title == "T"
    assert d.body == "line one\nline two\n"
    assert d.body_line == 4


# --------------------------------------------------------------------------------------
# Plain files
# --------------------------------------------------------------------------------------


def test_plain_file_title_from_first_heading(tmp_path: Path) -> None:
    d = parse(tmp_path, "Some intro.\n\n## Background ##\nText.\n", "notes.md")
    assert d.title == "Background"
    assert d.lang == "en"
    assert d.kind == "document"
    assert d.body_line == 1
    assert (d.url, d.sources, d.date, d.topic) == ("", (), "", "")


def test_plain_file_title_from_file_name(tmp_path: Path) -> None:
    d = parse(tmp_path, "勞工部撤回了指引。退休帳戶的風險。\n", "sub/dol-note.txt")
    assert d.title == "dol-note"
    assert d.doc_id == "sub/dol-note.txt"
    assert d.lang == "zh-Hant"


def test_plain_file_language_detected(tmp_path: Path) -> None:
    assert parse(tmp_path, "劳工部撤回了指引。退休账户的风险。\n").lang == "zh-Hans"
    assert parse(tmp_path, "The Labor Department withdrew its guidance.\n").lang == "en"
    # No script marks: the corpus fallback is Traditional.
    assert parse(tmp_path, "我想了解\n").lang == "zh-Hant"


# --------------------------------------------------------------------------------------
# Malformed files: CorpusError with the file and line
# --------------------------------------------------------------------------------------


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\ntitle: A\nkind: explainer\ntopic: a: b\n---\nbody\n")
    assert err.line == 4  # "topic: a: b"
    assert "not valid YAML" in err.message
    assert str(err).startswith(f"{err.path}:4: ")


def test_invalid_yaml_tab_reports_the_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\ntitle: A\n\tkind: explainer\n---\nbody\n")
    assert err.line == 3


def test_front_matter_not_a_mapping(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\n- a\n- b\n---\nbody\n")
    assert err.line == 2
    assert "key: value" in err.message


def test_unclosed_front_matter(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\ntitle: A\nbody text\n")
    assert err.line == 1
    assert "no closing" in err.message


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "https://", "http:// example.com", "www.sec.gov"])
def test_bad_url(tmp_path: Path, url: str) -> None:
    err = error_of(tmp_path, f"---\ntitle: A\nkind: explainer\nurl: '{url}'\n---\nbody\n")
    assert err.line == 4
    assert "http(s) URL" in err.message


def test_bad_source_url(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\ntitle: A\nsources: [https://ok.example/, nope]\n---\nbody\n")
    assert err.line == 3
    assert "'nope'" in err.message


def test_sources_not_a_list(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\ntitle: A\nsources: {a: 1}\n---\nbody\n")
    assert err.line == 3


@pytest.mark.parametrize("value", ["yesterday", "2025/08/07", "07-08-2025", "'2025-13-01'"])
def test_bad_date(tmp_path: Path, value: str) -> None:
    err = error_of(tmp_path, f"---\ntitle: A\nlanguage: en\ndate: {value}\n---\nbody\n")
    assert err.line == 4
    assert "ISO date" in err.message


def test_impossible_yaml_date_is_a_corpus_error(tmp_path: Path) -> None:
    write(tmp_path, "bad.md", "---\ntitle: A\ndate: 2025-13-45\n---\nbody\n")
    write(tmp_path, "good.md", "# Good\nbody\n")
    corpus = load_corpus(tmp_path, strict=False)
    assert [d.doc_id for d in corpus.documents] == ["good.md"]
    assert [Path(e.path).name for e in corpus.errors] == ["bad.md"]
    assert corpus.errors[0].line == 3


@pytest.mark.parametrize("value", ["fr", "zh", "chinese"])
def test_unknown_language(tmp_path: Path, value: str) -> None:
    err = error_of(tmp_path, f"---\ntitle: A\nlanguage: {value}\n---\nbody\n")
    assert err.line == 3
    assert f"language {value!r}" in err.message


def test_unknown_kind(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\ntitle: A\nkind: blog\n---\nbody\n")
    assert err.line == 3


def test_title_must_be_text(tmp_path: Path) -> None:
    err = error_of(tmp_path, "---\nlanguage: en\ntitle: [a, b]\n---\nbody\n")
    assert err.line == 3


def test_non_utf8_bytes(tmp_path: Path) -> None:
    err = error_of(tmp_path, b"line one\nline two\n\xff\xfe bad\n", "doc.txt")
    assert err.line == 3
    assert "UTF-8" in err.message
    err = error_of(tmp_path, "---\ntitle: A\n---\nok\n".encode() + b"\n\n\x80\n")
    assert err.line == 7


def test_nul_bytes(tmp_path: Path) -> None:
    err = error_of(tmp_path, b"one\ntwo\x00\n")
    assert err.line == 2


@pytest.mark.parametrize("text", ["---\ntitle: A\n---\n\n   \n", "---\ntitle: A\n---\n", "", "  \n\n"])
def test_empty_body(tmp_path: Path, text: str) -> None:
    err = error_of(tmp_path, text)
    assert "no text" in err.message
    expected = 4 if text.startswith("---") else 1
    assert err.line == expected


# --------------------------------------------------------------------------------------
# load_corpus
# --------------------------------------------------------------------------------------


def test_load_corpus_strict_raises_on_first_bad_file(tmp_path: Path) -> None:
    write(tmp_path, "a-good.md", "# A\nbody\n")
    write(tmp_path, "b-bad.md", "---\nlanguage: fr\n---\nbody\n")
    write(tmp_path, "c-bad.md", "---\ntitle: unclosed\n")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    assert Path(info.value.path).name == "b-bad.md"
    assert info.value.line == 2


def test_load_corpus_lenient_loads_the_rest_and_lists_errors(tmp_path: Path) -> None:
    write(tmp_path, "a-good.md", "# A\nbody\n")
    write(tmp_path, "b-bad.md", "---\nlanguage: fr\n---\nbody\n")
    write(tmp_path, "c-bad.md", "---\ntitle: unclosed\n")
    write(tmp_path, "sub/d-good.txt", "正文。\n")
    corpus = load_corpus(tmp_path, strict=False)
    assert [d.doc_id for d in corpus.documents] == ["a-good.md", "sub/d-good.txt"]
    assert [(Path(e.path).name, e.line) for e in corpus.errors] == [("b-bad.md", 2), ("c-bad.md", 1)]


def test_hidden_and_underscore_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "keep.md", "# Keep\nbody\n")
    write(tmp_path, ".hidden.md", "---\nlanguage: fr\n---\nbody\n")
    write(tmp_path, "_draft.md", "---\nlanguage: fr\n---\nbody\n")
    write(tmp_path, "_drafts/inside.md", "# x\nbody\n")
    write(tmp_path, ".git/notes.md", "# x\nbody\n")
    write(tmp_path, "sub/_private/x.txt", "body\n")
    write(tmp_path, "image.png", b"\x89PNG")
    write(tmp_path, "data.json", "{}")
    write(tmp_path, "sub/also.markdown", "# Also\nbody\n")
    write(tmp_path, "UPPER.MD", "# Upper\nbody\n")
    corpus = load_corpus(tmp_path)
    assert sorted(d.doc_id for d in corpus.documents) == ["UPPER.MD", "keep.md", "sub/also.markdown"]
    assert corpus.errors == ()
    assert [p.name for p in corpus_files(tmp_path)] == [p.name for p in sorted(corpus_files(tmp_path))]


def test_missing_or_empty_corpus_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope")
    write(tmp_path, "readme.json", "{}")
    with pytest.raises(CorpusError, match="no documents"):
        load_corpus(tmp_path)


def test_fingerprint_changes_when_a_file_changes(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "# A\nbody\n")
    write(tmp_path, "b.md", "# B\nbody\n")
    first = load_corpus(tmp_path).fingerprint
    assert load_corpus(tmp_path).fingerprint == first  # stable
    write(tmp_path, "b.md", "# B\nbody!\n")
    second = load_corpus(tmp_path).fingerprint
    assert second != first
    (tmp_path / "b.md").rename(tmp_path / "c.md")
    third = load_corpus(tmp_path).fingerprint
    assert third not in (first, second)
    write(tmp_path, "d.md", "# D\nbody\n")
    assert load_corpus(tmp_path).fingerprint != third


def test_by_id(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "# A\nbody\n")
    corpus = load_corpus(tmp_path)
    assert isinstance(corpus, Corpus)
    assert corpus.by_id()["a.md"].title == "A"


# --------------------------------------------------------------------------------------
# The bundled corpus (issue 3)
# --------------------------------------------------------------------------------------

_MARCH_2026 = re.compile(r"March\s+\d{1,2}(?:\s*[–-]\s*\d{1,2})?,\s*2026|2026\s*年\s*3\s*月|2026-03-\d\d", re.I)
_PROPOSED = re.compile(r"\bpropos(?:ed|al)\b|擬議|拟议", re.I)
_FINAL_CLAIM = re.compile(
    r"\bfinali[sz]ed\b|\bfinal rule (?:was|has been|is now) (?:adopted|issued|published)|已(?:正式)?定案|已(?:正式)?生效",
    re.I,
)


@pytest.fixture(scope="module")
def bundled() -> Corpus:
    return load_corpus(CORPUS, strict=False)


def explainer_docs(corpus: Corpus):
    return [d for d in corpus.documents if d.doc_id.startswith("explainers/")]


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path}: no front matter"
    raw = text.split("\n---\n", 1)[0][4:]
    return yaml.safe_load(raw)


def well_formed_url(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and "." in parts.netloc and not re.search(r"\s", url)
            and parts.netloc == parts.netloc.strip("."))


def h2_sections(body: str) -> list[str]:
    return re.split(r"(?m)^## ", body)


def test_every_bundled_document_parses(bundled: Corpus) -> None:
    assert bundled.errors == (), [str(e) for e in bundled.errors]
    assert len(bundled.documents) == len(corpus_files(CORPUS))
    load_corpus(CORPUS, strict=True)


def test_bundled_explainers_and_glossaries_have_complete_metadata(bundled: Corpus) -> None:
    docs = [d for d in bundled.documents if d.kind in ("explainer", "glossary")]
    assert docs
    assert {d.doc_id for d in docs} == {d.doc_id for d in explainer_docs(bundled)}
    for d in docs:
        meta = front_matter(CORPUS / d.doc_id)
        for key in ("title", "language", "topic", "kind", "url", "date", "licence"):
            assert meta.get(key) not in (None, ""), f"{d.doc_id}: {key} missing"
        assert d.title and d.topic and d.licence
        assert well_formed_url(d.url), f"{d.doc_id}: url {d.url!r}"
        for src in d.sources:
            assert well_formed_url(src), f"{d.doc_id}: source {src!r}"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", d.date), f"{d.doc_id}: date {d.date!r}"
        dt.date.fromisoformat(d.date)
        assert d.doc_id.endswith(f".{d.lang}.md"), f"{d.doc_id}: language {d.lang} does not match the file name"


def test_bundled_explainers_come_in_english_and_traditional_pairs(bundled: Corpus) -> None:
    docs = {d.doc_id: d for d in explainer_docs(bundled)}
    for doc_id, d in docs.items():
        m = re.fullmatch(r"explainers/(.+)\.(en|zh-Hant)\.md", doc_id)
        assert m, f"{doc_id}: explainers are named <topic>.en.md or <topic>.zh-Hant.md"
        stem, lang = m.groups()
        other = f"explainers/{stem}.{'zh-Hant' if lang == 'en' else 'en'}.md"
        assert other in docs, f"{doc_id} has no counterpart {other}"
        assert docs[other].topic == d.topic, f"{doc_id} and {other} have different topics"
        assert d.topic == stem, f"{doc_id}: topic {d.topic!r} does not match the file name"
        assert docs[other].kind == d.kind


def test_bundled_explainers_have_sections(bundled: Corpus) -> None:
    for d in explainer_docs(bundled):
        headings = [line for line in d.body.split("\n") if line.startswith("## ")]
        assert len(headings) >= 2, f"{d.doc_id}: {len(headings)} '## ' headings"


def test_seed_article_is_the_shared_text_with_attribution(bundled: Corpus) -> None:
    articles = [d for d in bundled.documents if d.topic == "401k-crypto-article"]
    assert len(articles) == 1
    article = articles[0]
    assert article.kind == "article" and article.lang == "zh-Hant"
    assert "照生研究員" in article.attribution
    if not SEED.is_file():
        pytest.skip(f"shared seed article not found at {SEED} (expected at ../shared beside the checkout)")
    assert article.body.encode("utf-8") == SEED.read_bytes()


def test_no_explainer_states_the_2026_proposal_is_final(bundled: Corpus) -> None:
    checked = 0
    for d in explainer_docs(bundled):
        for section in h2_sections(d.body):
            if not _MARCH_2026.search(section):
                continue
            checked += 1
            assert _PROPOSED.search(section), (
                f"{d.doc_id}: section {section[:60]!r} is about March 2026 without 'proposed'")
            assert not _FINAL_CLAIM.search(section), f"{d.doc_id}: {_FINAL_CLAIM.search(section).group(0)!r}"
    assert checked >= 2  # the DOL timeline in both languages at least


def test_march_2026_checks_can_fail() -> None:
    bad = "## March 31, 2026: the new rule\nThe Labor Department finalized the rule on March 31, 2026.\n"
    section = h2_sections(bad)[1]
    assert _MARCH_2026.search(section)
    assert not _PROPOSED.search(section)
    assert _FINAL_CLAIM.search(section)
    assert _MARCH_2026.search("勞工部於2026年3月30日公布")


def test_plain_english_file_with_a_chinese_link_is_english(tmp_path: Path) -> None:
    f = tmp_path / "note.md"
    f.write_text("# Plan fees\nFees reduce returns over decades. See also the 中文版 of this note.\n", encoding="utf-8")
    assert parse_document(f, "note.md").lang == "en"
