"""The answer engine end to end over the bundled corpus (no front end)."""

from __future__ import annotations

import re

import pytest

from bot.compose import TELEGRAM_LIMIT
from bot.conversation import Conversation
from bot.script import script_marks

CITATION = re.compile(r"\[\d\]")


def _is_simplified(text: str) -> bool:
    trad, simp = script_marks(text)
    return trad == 0 and simp > 0


def _is_traditional(text: str) -> bool:
    trad, simp = script_marks(text)
    return simp == 0 and trad > 0


def test_simplified_question_gets_simplified_text_from_traditional_source(engine) -> None:
    ans = engine.answer("如果1%的401(k)资金投入加密货币,会带来多少资金?")
    assert not ans.no_answer and ans.lang == "zh-Hans"
    assert CITATION.search(ans.text)
    assert _is_simplified("".join(q.text for q in ans.quotes))
    assert any("870" in p.text for p in ans.passages[:3])
    assert all(_is_simplified(p.text) or not script_marks(p.text)[0] for p in ans.passages if p.lang != "en")


def test_traditional_question_gets_traditional_text(engine) -> None:
    ans = engine.answer("勞工部2022-01號合規協助公告說了甚麼?")
    assert not ans.no_answer and ans.lang == "zh-Hant"
    assert _is_traditional("".join(q.text for q in ans.quotes))
    assert "資料來源" in ans.text and "僅供投資者教育" in ans.text


def test_english_question_cites_sources_with_urls_and_dates(engine) -> None:
    ans = engine.answer("When did the SEC approve spot bitcoin ETFs?")
    assert not ans.no_answer and ans.lang == "en"
    assert ans.sources and all(s.url.startswith("https://") for s in ans.sources)
    assert all(re.match(r"\d{4}-\d{2}-\d{2}", s.date) for s in ans.sources)
    for q in ans.quotes:
        assert any(s.ref == q.ref for s in ans.sources)
    assert "Sources:" in ans.text and "not investment advice" in ans.text


@pytest.mark.parametrize("question", ["How do I bake sourdough bread?", "今天香港天氣如何?", "推荐一部好看的电影"])
def test_uncovered_question_is_refused_without_quotes(engine, question: str) -> None:
    ans = engine.answer(question)
    assert ans.no_answer and not ans.quotes and not ans.passages
    assert ans.topics  # says what it can answer instead


@pytest.mark.parametrize("question", ["Should I put my 401(k) into bitcoin?", "我該不該買比特幣?"])
def test_advice_request_gets_education_with_a_not_advice_note(engine, question: str) -> None:
    ans = engine.answer(question)
    assert ans.advice and not ans.no_answer and ans.quotes
    assert ("advice" in ans.text.lower()) or ("建議" in ans.text)


def test_follow_up_uses_the_previous_turn(engine) -> None:
    conv = Conversation()
    first = engine.answer("What did the 2022 Labor Department guidance say about crypto in 401(k) plans?", conv)
    conv.append(first.turn)
    follow = engine.answer("後來被撤回了嗎?", conv)
    assert follow.follow_up and not follow.no_answer and follow.lang == "zh-Hant"
    assert any("2025-01" in p.text for p in follow.passages[:3])
    # The same words without the conversation are not answered from that context.
    alone = engine.answer("後來被撤回了嗎?")
    assert not alone.follow_up


def test_engine_does_not_modify_the_conversation(engine) -> None:
    conv = Conversation()
    engine.answer("What is Executive Order 14330?", conv)
    assert conv.turns == []


def test_forced_language(engine) -> None:
    ans = engine.answer("What is Executive Order 14330?", lang="zh-Hans")
    assert ans.lang == "zh-Hans" and "仅供投资者教育" in ans.text


def test_empty_and_oversized_questions(engine) -> None:
    assert engine.answer("   ").no_answer
    long = engine.answer("退休" * 2000)
    assert long.no_answer and "2000" not in long.text and "4000" in long.text


def test_answers_fit_telegram_limit(engine) -> None:
    for q in ["Tell me everything about ERISA fiduciary duties, 401(k) limits and crypto ETFs", "甚麼是ERISA的受託人義務?"]:
        assert len(engine.answer(q).text) <= TELEGRAM_LIMIT


def test_json_shape(engine) -> None:
    data = engine.answer("What is Executive Order 14330?").to_json()
    assert set(data) >= {"answer", "no_answer", "lang", "passages"}
    p = data["passages"][0]
    assert set(p) == {"rank", "doc_id", "title", "section", "url", "date", "text", "score"}
    assert p["rank"] == 1 and not p["doc_id"].startswith("/")


def test_who_wrote_the_article_answers_from_its_attribution(engine) -> None:
    ans = engine.answer("Who wrote this article?")
    assert not ans.no_answer and "照生研究員" in ans.text and "written by" in ans.text
    assert ans.passages and "照生研究員" in ans.passages[0].text
    simp = engine.answer("这篇文章是谁写的?")
    assert "照生研究员" in simp.text  # in the asker's script


def test_who_wrote_that_follows_the_conversation(engine) -> None:
    conv = Conversation()
    first = engine.answer("What is Executive Order 14330?", conv)
    conv.append(first.turn)
    who = engine.answer("Who wrote that?", conv)
    cited = {s.doc_id for s in first.sources}
    assert {s.doc_id for s in who.sources} <= cited


def test_chinese_question_on_an_acronym_gets_the_chinese_version(engine) -> None:
    ans = engine.answer("什么是ERISA?")
    assert not ans.no_answer and ans.lang == "zh-Hans"
    assert ans.passages[0].lang.startswith("zh") and ans.passages[0].doc_id.endswith(".zh-Hant.md")
    assert _is_simplified("".join(q.text for q in ans.quotes))


def test_english_question_quotes_an_answer_found_only_in_chinese(engine) -> None:
    # The limits on crypto allocations are named only in the Chinese article. Its
    # sentence is compared with English sentences after aligning each language's
    # cosine scores, as retrieval does, so it is quoted (in Chinese, with its source).
    ans = engine.answer("What limits might apply to crypto allocations in 401(k) menus?", None)
    assert not ans.no_answer
    quoted = [q for q in ans.quotes if "白名單" in q.text or "白名单" in q.text]
    assert quoted and quoted[0].original_lang == "zh-Hant"
    assert any(s.doc_id == "401k-crypto-article.zh-Hant.txt" for s in ans.sources)


def test_remembered_sentence_tokens_and_vectors_change_nothing(engine) -> None:
    # Quote selection remembers sentence tokens and vectors (bounded); a repeated
    # question gets the same answer, and the memory does not grow without limit.
    q = "How is bitcoin treated for federal tax purposes?"
    first = engine.answer(q, None).text
    assert engine.answer(q, None).text == first
    assert 0 < len(engine._sentence_tokens) <= 4096 and 0 < len(engine._sentence_vectors) <= 4096


def test_memo_computes_only_what_it_lacks_and_keeps_the_most_recent() -> None:
    from bot.engine import Memo

    calls: list[list[str]] = []

    def upper(keys: list[str]) -> list[str]:
        calls.append(keys)
        return [k.upper() for k in keys]

    memo: Memo[str] = Memo(2)
    assert memo.get(["a", "b", "a"], upper) == ["A", "B", "A"] and calls == [["a", "b"]]
    assert memo.get(["b", "c"], upper) == ["B", "C"] and calls[-1] == ["c"]
    assert len(memo) == 2 and "a" not in memo and "b" in memo  # "a" was used least recently
