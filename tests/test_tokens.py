"""BM25 tokens (bot.tokens): script-blind, question words dropped, number forms, bigrams, stemming."""

from __future__ import annotations

import pytest

from bot.tokens import Tokenizer, _stem


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer()


def bigrams(tokens: list[str]) -> list[str]:
    return [t[1:] for t in tokens if t.startswith("~")]


def plain(tokens: list[str]) -> list[str]:
    return [t for t in tokens if not t.startswith("~")]


@pytest.mark.parametrize(
    ("trad", "simp"),
    [
        ("比特幣現貨ETF是什麼?", "比特币现货ETF是什么?"),
        ("勞工部後來撤回了這份指引嗎?", "劳工部后来撤回了这份指引吗?"),
        ("401(k)計劃的供款上限是多少?", "401(k)计划的供款上限是多少?"),
        ("受託人義務與養老金計劃", "受托人义务与养老金计划"),
    ],
)
def test_traditional_and_simplified_give_the_same_tokens(tok: Tokenizer, trad: str, simp: str) -> None:
    assert tok.tokens(trad) == tok.tokens(simp)
    assert tok.tokens(trad)  # not trivially empty


def test_account_spellings_give_the_same_tokens(tok: Tokenizer) -> None:
    assert tok.tokens("401(k)帳戶的供款上限") == tok.tokens("401(k)账户的供款上限")


def test_full_width_and_case_are_folded(tok: Tokenizer) -> None:
    assert tok.tokens("ＥＴＦ　ＳＥＣ") == tok.tokens("etf sec") == ["etf", "sec"]


@pytest.mark.parametrize(
    ("text", "dropped"),
    [
        ("比特幣是什麼?", ["什么", "什麼"]),
        ("哪一種資產風險最高?", ["哪"]),
        ("供款上限是多少?", ["多少"]),
        ("What is a spot bitcoin ETF?", ["what"]),
        ("Which plans offer crypto?", ["which"]),
    ],
)
def test_question_words_are_dropped(tok: Tokenizer, text: str, dropped: list[str]) -> None:
    tokens = tok.tokens(text)
    for word in dropped:
        assert word not in tokens
        assert not any(word in b for b in bigrams(tokens)), tokens
    assert plain(tokens)  # the content words remain


def test_question_word_does_not_change_the_content_tokens(tok: Tokenizer) -> None:
    assert tok.tokens("比特幣現貨ETF是什麼?") == tok.tokens("比特幣現貨ETF")
    assert tok.tokens("What is the contribution limit?") == tok.tokens("contribution limit")


@pytest.mark.parametrize("text", ["401(k)", "401 ( K )", "401(K) plan", "401（ｋ）"])
def test_401k_is_one_term(tok: Tokenizer, text: str) -> None:
    tokens = tok.tokens(text)
    assert "401k" in tokens
    assert "401" not in tokens and "k" not in tokens


def test_403b_and_us(tok: Tokenizer) -> None:
    assert "403b" in tok.tokens("a 403(b) plan")
    assert tok.tokens("U.S. stocks") == ["us", "stock"]


@pytest.mark.parametrize(("text", "number"), [("23,500", "23500"), ("USD 23,500 in 2025", "23500"),
                                              ("$1,234,567", "1234567"), ("上限為 23,500 美元", "23500")])
def test_thousands_separators_are_removed(tok: Tokenizer, text: str, number: str) -> None:
    tokens = tok.tokens(text)
    assert number in tokens
    assert not any("," in t for t in tokens)


def test_thousands_separator_before_chinese(tok: Tokenizer) -> None:
    assert "23500" in tok.tokens("上限為23,500美元")


def test_decimals_and_percentages_stay_whole(tok: Tokenizer) -> None:
    assert "3.5%" in tok.tokens("fees of 3.5% a year")
    assert "8.7" in tok.tokens("約8.7萬億美元")


def test_bigrams_come_only_from_content_runs(tok: Tokenizer) -> None:
    tokens = tok.tokens("比特幣現貨ETF是什麼?")
    # Runs are 比特币现货 only: no bigram crosses "etf" or touches 是/什么.
    assert sorted(bigrams(tokens)) == sorted(["比特", "特币", "币现", "现货"])
    tokens = tok.tokens("什麼是比特幣")
    assert bigrams(tokens) == ["比特", "特币"]
    # A stopword splits a run: no bigram spans 的.
    tokens = tok.tokens("退休帳戶的資產規模")
    assert "户的" not in bigrams(tokens) and "的资" not in bigrams(tokens)
    for b in bigrams(tokens):
        assert "的" not in b


def test_bigrams_are_inside_some_run_of_content_words(tok: Tokenizer) -> None:
    text = "勞工部在2022年就加密貨幣發布了甚麼指引?比特幣 ETF 多少錢"
    tokens = tok.tokens(text)
    words = plain(tokens)
    joined = "".join(w for w in words if not w.isascii())
    for b in bigrams(tokens):
        assert len(b) == 2 and not b.isascii()
        assert b in joined, b
        assert b not in tok.stopwords


def test_no_bigrams_option_and_english_has_no_bigrams(tok: Tokenizer) -> None:
    assert not bigrams(tok.tokens("What are the ERISA fiduciary duties?"))
    assert not bigrams(Tokenizer(bigrams=False).tokens("比特幣現貨ETF"))


def test_words_are_tokens_without_bigrams(tok: Tokenizer) -> None:
    text = "比特幣現貨ETF的費用"
    assert tok.words(text) == plain(tok.tokens(text))


def test_stopwords_kept_when_asked() -> None:
    assert "what" in Tokenizer(drop_stopwords=False).tokens("What is ERISA?")


@pytest.mark.parametrize(
    ("a", "b"),
    [("plans", "plan"), ("contributions", "contribution"), ("matched", "match"), ("allowed", "allow"),
     ("taxes", "tax"), ("policies", "policy"), ("investing", "invest"), ("assets", "asset")],
)
def test_english_stemming_matches_plural_and_ed_forms(tok: Tokenizer, a: str, b: str) -> None:
    assert tok.tokens(a) == tok.tokens(b)


@pytest.mark.parametrize("word", ["status", "basis", "class", "bus", "gas", "is"])
def test_stemming_leaves_ss_us_is_and_short_words(word: str) -> None:
    assert _stem(word) == word


@pytest.mark.parametrize(("a", "b"), [("rates", "rate"), ("trades", "trade"), ("shares", "share"),
                                      ("traded", "trade"), ("exchanges", "exchange")])
def test_stemming_e_final_words(tok: Tokenizer, a: str, b: str) -> None:
    assert tok.tokens(a) == tok.tokens(b)
