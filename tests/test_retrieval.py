"""Hybrid retrieval on a small bilingual corpus built for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.corpus import load_corpus
from bot.encoders import load_encoder
from bot.index import build_index, load_index
from bot.retrieval import FusionWeights, Query, Retriever
from bot.tokens import Tokenizer

DOCS = {
    "custody.en.md": "---\ntitle: Custody of crypto assets\nlanguage: en\ntopic: custody\nkind: explainer\n---\n"
    "## Custody\nA custodian holds the assets of a fund. Crypto custody means keeping private keys safe "
    "from hackers. Losing the keys can mean losing the coins.\n",
    "custody.zh-Hant.md": "---\ntitle: 加密資產的託管\nlanguage: zh-Hant\ntopic: custody\nkind: explainer\n---\n"
    "## 託管\n託管人代基金持有資產。加密資產的託管即妥善保管私鑰,防範黑客。遺失私鑰可能導致失去資產。\n",
    "fees.en.md": "---\ntitle: Plan fees\nlanguage: en\ntopic: fees\nkind: explainer\n---\n"
    "## Fees\nHigh fees reduce the net return of a retirement account over decades.\n",
    "pension.zh-Hant.txt": "---\ntitle: 養老金觀察\nlanguage: zh-Hant\nkind: article\n---\n"
    "加拿大和澳大利亞的養老金早已大量配置另類資產。受託人必須審慎評估每一項投資。\n",
    "glossary.md": "---\ntitle: Glossary\nlanguage: en\nkind: glossary\n---\n"
    "| English | 中文 |\n|---|---|\n| custody / custodian | 託管 / 託管人 |\n| fiduciary | 受託人 |\n"
    "| pension / pension fund | 養老金 / 退休金 |\n",
}


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    root = tmp_path_factory.mktemp("rcorpus")
    for name, text in DOCS.items():
        (root / name).write_text(text, encoding="utf-8")
    index_dir = root.parent / "ridx"
    encoder, tokenizer = load_encoder("use-multilingual"), Tokenizer()
    build_index(load_corpus(root), index_dir, encoder, tokenizer)
    index = load_index(index_dir)
    return Retriever(index, encoder, tokenizer, index.glossary)


def ids(result) -> list[str]:
    return [h.chunk.doc_id for h in result.hits]


def test_english_question_prefers_english_and_shows_the_other_language(retriever: Retriever) -> None:
    result = retriever.search(Query("Who holds the private keys in crypto custody?", "en"), k=3)
    assert ids(result)[0] == "custody.en.md"
    # The Chinese translation of the same topic is not shown beside it ...
    assert "custody.zh-Hant.md" not in ids(result)
    # ... but the best passage in the other language is, by rank 3.
    assert any(d.endswith((".zh-Hant.md", ".txt")) for d in ids(result)[:3])


def test_chinese_question_finds_chinese_text_in_either_script(retriever: Retriever) -> None:
    for q, lang in (("哪些國家的養老金配置另類資產?", "zh-Hant"), ("哪些国家的养老金配置另类资产?", "zh-Hans")):
        result = retriever.search(Query(q, lang), k=3)
        assert ids(result)[0] == "pension.zh-Hant.txt"


def test_glossary_translations_bridge_languages(retriever: Retriever) -> None:
    result = retriever.search(Query("What must a fiduciary do?", "en"), k=5)
    assert "受托人" in result.expansions
    top_zh = next(h for h in result.hits if h.chunk.lang != "en")
    assert top_zh.chunk.doc_id == "pension.zh-Hant.txt" and top_zh.lexical > 0


def test_translations_do_not_score_same_language_passages(retriever: Retriever) -> None:
    r = retriever
    q = r.tokenizer.tokens("custody")
    translations = r.tokenizer.tokens("托管")
    with_t = r.hybrid_lexical(q, [], translations, [], query_zh=False)
    without = r.hybrid_lexical(q, [], [], [], query_zh=False)
    for row, chunk in enumerate(r.index.chunks):
        if chunk.lang == "en":
            assert with_t[row] == pytest.approx(without[row])
        if chunk.doc_id == "custody.zh-Hant.md":
            assert with_t[row] > without[row]


def test_unseen_words_count_as_missing_evidence(retriever: Retriever) -> None:
    # English words absent from the corpus keep the lexical score of every passage low.
    lexical = retriever.lexical_scores([(retriever.tokenizer.tokens("zebra quantum harmonica"), 1.0)])
    assert float(lexical.max()) == 0.0


def test_every_hit_has_its_scores(retriever: Retriever) -> None:
    result = retriever.search(Query("crypto custody keys", "en"), k=5)
    assert result.hits and result.query_vector is not None
    top = result.hits[0]
    assert 0 <= top.coverage <= 1 and -1 <= top.dense <= 1 and top.score >= result.hits[-1].score


def test_weights_are_configurable(retriever: Retriever) -> None:
    plain = Retriever(retriever.index, retriever.encoder, retriever.tokenizer, retriever.glossary,
                      FusionWeights(mix_slot=0))
    result = plain.search(Query("Who holds the private keys in crypto custody?", "en"), k=2)
    assert ids(result)[0] == "custody.en.md"
