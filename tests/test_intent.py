"""Requests for personal investment advice (bot.intent.asks_for_advice)."""

from __future__ import annotations

import pytest

from bot.intent import asks_about_author, asks_for_advice

ADVICE = [
    "Should I put my 401(k) into bitcoin?",
    "我該不該買比特幣?",
    "我应该买以太币吗",
    "Is bitcoin a good investment for my retirement?",
    "Would you recommend a crypto ETF for my IRA?",
    "What should I buy for retirement?",
    "How much of my 401(k) should go into crypto?",
    "我應不應該把退休金投入加密貨幣?",
    "值得投資比特幣ETF嗎?",
    "建議我買哪個ETF",
    "現在是不是買入比特幣的好時機?",
    "SHOULD I SELL MY ETHER?",
]
EDUCATION = [
    "What is Executive Order 14330?",
    "比特幣現貨ETF何時獲批?",
    "比特币现货ETF何时获批?",
    "Which ETFs did the SEC approve in 2024?",
    "What should investors know about crypto risks?",
    "Should the SEC approve more ETFs?",
    "應該怎樣理解受託人義務?",
    "What are the duties of a 401(k) fiduciary?",
    "勞工部2022年的指引說了甚麼?",
    "How do I bake sourdough bread?",
]


@pytest.mark.parametrize("question", ADVICE)
def test_advice_requests(question: str) -> None:
    assert asks_for_advice(question)


@pytest.mark.parametrize("question", EDUCATION)
def test_educational_questions(question: str) -> None:
    assert not asks_for_advice(question)


def test_is_now_a_good_time_to_buy() -> None:
    assert asks_for_advice("Is now a good time to buy bitcoin?")


def test_should_i_switch_without_wo() -> None:
    assert asks_for_advice("該不該把退休金換成比特幣?")


def test_contribution_limit_question_is_not_advice() -> None:
    assert not asks_for_advice("How much can I contribute to my 401(k) in 2026?")


def test_what_should_i_know_is_not_advice() -> None:
    assert not asks_for_advice("What should I know about Executive Order 14330?")


@pytest.mark.parametrize(
    "question", ["Who wrote this article?", "Who is the author of the article?", "這篇文章的作者是誰?", "这是谁写的?"]
)
def test_author_questions(question: str) -> None:
    assert asks_about_author(question)


@pytest.mark.parametrize("question", ["What did the article say about ETFs?", "Who can join a 401(k) plan?", "勞工部寫了甚麼指引?"])
def test_not_author_questions(question: str) -> None:
    assert not asks_about_author(question)
