"""Conversations (bot.conversation): follow-up detection, context for follow-ups, bounded history."""

from __future__ import annotations

import pytest

from bot.conversation import MAX_TURNS, Conversation, Turn, context_for, is_follow_up
from bot.tokens import Tokenizer


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer()


def n_words(tok: Tokenizer, question: str) -> int:
    # What the engine passes: the number of content words (stopwords removed).
    return len(tok.words(question))


def turn(question: str = "What is Executive Order 14330?", *, no_answer: bool = False, lang: str = "en") -> Turn:
    return Turn(question=question, resolved=question, lang=lang, doc_ids=("explainers/eo-14330.en.md",),
                no_answer=no_answer)


FOLLOW_UPS = ["後來被撤回了嗎?", "后来被撤回了吗?", "And the Labor Department?", "它的資產規模有多大?", "那SEC呢?",
              "What about Hong Kong?", "Did it take effect?", "Why?"]
STANDALONE = [
    "What does Executive Order 14330 ask the Labor Department to do about alternative assets in 401(k) plans?",
    "What did the Labor Department say about crypto in 401(k) plans in 2022?",
    "勞工部在2022年就加密貨幣發布了甚麼指引?",
    "美國證券交易委員會何時批准比特幣現貨ETF上市?",
    "What are the 2026 401(k) contribution limits for participants aged 60 to 63?",
]


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_follow_ups(tok: Tokenizer, question: str) -> None:
    assert is_follow_up(question, n_words(tok, question))


@pytest.mark.parametrize("question", STANDALONE)
def test_standalone_questions_are_not_follow_ups(tok: Tokenizer, question: str) -> None:
    assert n_words(tok, question) > 2
    assert not is_follow_up(question, n_words(tok, question))


def test_anaphora_needs_a_short_english_question(tok: Tokenizer) -> None:
    long_q = "Is it true that Executive Order 14330 lets 401(k) plans hold bitcoin directly through spot ETFs?"
    assert not is_follow_up(long_q, n_words(tok, long_q))
    assert is_follow_up("Is it legal?", n_words(tok, "Is it legal?"))


def test_context_for_a_follow_up_is_the_previous_resolved_question(tok: Tokenizer) -> None:
    conv = Conversation()
    first = Turn("What did the DOL say about crypto in 2022?",
                 "What did the DOL say about crypto in 2022?", "en")
    conv.append(first)
    q = "後來被撤回了嗎?"
    assert context_for(q, conv, n_words(tok, q)) == first.resolved
    # A chain of follow-ups keeps the antecedent: the engine stores the resolved text.
    conv.append(Turn(q, f"{first.resolved} {q}", "zh-Hant"))
    q2 = "And the Labor Department?"
    assert context_for(q2, conv, n_words(tok, q2)) == f"{first.resolved} {q}"


def test_context_for_is_empty_without_a_previous_turn(tok: Tokenizer) -> None:
    q = "後來被撤回了嗎?"
    assert context_for(q, None, n_words(tok, q)) == ""
    assert context_for(q, Conversation(), n_words(tok, q)) == ""


def test_context_for_is_empty_after_a_refused_turn(tok: Tokenizer) -> None:
    conv = Conversation()
    conv.append(turn("How do I bake sourdough bread?", no_answer=True))
    for q in FOLLOW_UPS:
        assert context_for(q, conv, n_words(tok, q)) == ""


def test_context_for_is_empty_for_a_standalone_question(tok: Tokenizer) -> None:
    conv = Conversation([turn()])
    for q in STANDALONE:
        assert context_for(q, conv, n_words(tok, q)) == ""


def test_conversation_keeps_at_most_max_turns() -> None:
    conv = Conversation()
    assert conv.max_turns == MAX_TURNS
    turns = [turn(f"question {i}") for i in range(MAX_TURNS + 4)]
    for i, t in enumerate(turns, start=1):
        conv.append(t)
        assert len(conv.turns) == min(i, MAX_TURNS)
        assert conv.last is t
    assert conv.turns == turns[-MAX_TURNS:]


@pytest.mark.parametrize("max_turns", [1, 2, 3])
def test_conversation_custom_max_turns(max_turns: int) -> None:
    conv = Conversation(max_turns=max_turns)
    for i in range(5):
        conv.append(turn(f"q{i}"))
    assert [t.question for t in conv.turns] == [f"q{i}" for i in range(5 - max_turns, 5)]


def test_conversation_last_lang_and_clear() -> None:
    conv = Conversation()
    assert conv.last is None and conv.lang is None
    conv.append(turn(lang="zh-Hans"))
    assert conv.lang == "zh-Hans"
    conv.clear()
    assert conv.turns == [] and conv.last is None


def test_conversations_do_not_share_turns() -> None:
    a, b = Conversation(), Conversation()
    a.append(turn())
    assert b.turns == []


def test_context_of_a_follow_up_chain_stays_short() -> None:
    conv = Conversation()
    resolved = "What is Executive Order 14330?"
    for q in ["When was it signed?", "And the Labor Department?", "它呢?", "後來呢?"]:
        conv.append(Turn(q, resolved, "en"))
        context = context_for(q, conv, content_words=1)
        assert context and len(context.splitlines()) <= 2
        resolved = f"{context}\n{q}"
