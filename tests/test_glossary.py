"""Bilingual glossary (bot.glossary): table parsing, documents, expansion, word boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.corpus import Document, load_corpus
from bot.glossary import Entry, Glossary, parse_table

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

TABLE = """# Glossary

Intro | with a pipe but not a table row.

| English | 中文 | Notes |
|---|---|---|
| fiduciary / fiduciary duty | 受託人 / 受託人義務 | x |
| Department of Labor (DOL) | 勞工部 ／ 美國勞工部 | y |
| Securities and Exchange Commission (SEC) | 證券交易委員會 | z |
| **custody** | `託管` | |
| 401(k) plan | 401(k)計劃 | |
| x | 單字 | too short on the English side |
| only one cell |
Not a table line any more.
| private equity | 私募股權 | after the table: ignored |
"""


def gdoc(body: str, kind: str = "glossary", doc_id: str = "g.md") -> Document:
    return Document(doc_id=doc_id, title="g", lang="en", body=body, kind=kind)


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return Glossary.from_documents([gdoc(TABLE)])


def test_parse_table() -> None:
    entries = parse_table(TABLE)
    assert entries == [
        Entry(("fiduciary", "fiduciary duty"), ("受托人", "受托人义务")),
        Entry(("department of labor (dol)", "department of labor", "dol"), ("劳工部", "美国劳工部")),
        Entry(("securities and exchange commission (sec)", "securities and exchange commission", "sec"),
              ("证券交易委员会",)),
        Entry(("custody",), ("托管",)),
        Entry(("401(k) plan",), ("401(k)计划",)),
    ]


def test_parse_table_skips_header_and_rule_rows() -> None:
    entries = parse_table(TABLE)
    terms = {t for e in entries for t in (*e.english, *e.chinese)}
    assert not terms & {"english", "中文", "notes", "---"}
    # The table ends at the first non-table line: "private equity" comes after it.
    assert "private equity" not in terms


def test_parse_table_alignment_rule_and_no_table() -> None:
    body = "| EN | ZH |\n| :--- | ---: |\n| custody | 託管 |\n"
    assert parse_table(body) == [Entry(("custody",), ("托管",))]
    assert parse_table("no table here\n- a list\n") == []
    # Without a rule row there is no header/body split: nothing is read.
    assert parse_table("| custody | 託管 |\n| fees | 費用 |\n") == []


def test_only_the_first_table_is_read() -> None:
    body = "| EN | ZH |\n|---|---|\n| custody | 託管 |\n\n| EN | ZH |\n|---|---|\n| fees | 費用 |\n"
    assert [e.english for e in parse_table(body)] == [("custody",)]


def test_from_documents_reads_only_glossaries() -> None:
    table = "| EN | ZH |\n|---|---|\n| custody | 託管 |\n"
    other = "| EN | ZH |\n|---|---|\n| fees | 費用 |\n"
    g = Glossary.from_documents([gdoc(table), gdoc(other, kind="explainer", doc_id="e.md"),
                                 gdoc(other, kind="article", doc_id="a.md")])
    assert len(g) == 1
    assert g.entries[0].english == ("custody",)


def test_from_documents_merges_duplicates_across_translations() -> None:
    en = "| English | 中文 |\n|---|---|\n| custody | 託管 |\n"
    zh = "| English | 中文 |\n|---|---|\n| custody | 托管 |\n"  # same entry once normalised
    assert len(Glossary.from_documents([gdoc(en), gdoc(zh, doc_id="g2.md")])) == 1


def test_expand_english_to_chinese(glossary: Glossary) -> None:
    assert glossary.expand("Who holds custody of the coins?") == ["托管"]
    out = glossary.expand("What did the DOL say?")
    assert "劳工部" in out and "美国劳工部" in out
    assert "dol" not in out  # already in the question


@pytest.mark.parametrize("question", ["受託人義務是什麼?", "受托人义务是什么?"])
def test_expand_chinese_either_script_to_english(glossary: Glossary, question: str) -> None:
    out = glossary.expand(question)
    assert "fiduciary" in out and "fiduciary duty" in out
    assert "受托人" not in out and "受托人义务" not in out  # already in the question


def test_expand_does_not_repeat_terms_in_the_text(glossary: Glossary) -> None:
    out = glossary.expand("fiduciary 受託人 and custody 託管")
    assert "fiduciary" not in out and "受托人" not in out and "custody" not in out and "托管" not in out
    assert len(out) == len(set(out))
    assert set(out) == {"fiduciary duty", "受托人义务"}


def test_acronym_and_punctuated_terms_match(glossary: Glossary) -> None:
    assert "证券交易委员会" in glossary.expand("When did the SEC approve spot ETFs?")
    assert "401(k)计划" in glossary.expand("What is a 401(k) plan?")


@pytest.mark.parametrize("text", ["section 404 of ERISA", "the second quarter", "securities law", "dolphins",
                                  "custodyship", "ASEC"])
def test_word_boundaries(glossary: Glossary, text: str) -> None:
    assert glossary.matches(text) == []
    assert glossary.expand(text) == []


def test_no_match_is_empty(glossary: Glossary) -> None:
    assert glossary.expand("How do I bake sourdough bread?") == []
    assert Glossary().expand("custody") == []


def test_bundled_glossary() -> None:
    g = Glossary.from_documents(load_corpus(CORPUS).documents)
    assert len(g) >= 40
    assert {"custody", "custodian"} <= set(g.expand("託管是甚麼?"))
    assert any(t in g.expand("What is a fiduciary?") for t in ("受托人", "受托人义务"))
    assert "私募股权" in g.expand("Can a 401(k) hold private equity?")


def test_english_term_next_to_chinese_characters_is_found() -> None:
    from bot.glossary import Entry, Glossary

    g = Glossary((Entry(("erisa",), ("员工退休收入保障法",)),))
    assert g.expand("什么是ERISA?") == ["员工退休收入保障法"]
    assert g.expand("ERISA第404(c)條") == ["员工退休收入保障法"]
    assert g.expand("MyERISAfund") == []  # still whole words only
