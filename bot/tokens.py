"""Lexical tokens for BM25: jieba words plus CJK character bigrams on normalised text.

Text is normalised first (NFKC, Simplified, lower case), so Traditional and
Simplified spellings give the same tokens. Question words (什么, 哪, 谁, 多少, what,
which ...) and function words are dropped: they say what kind of answer is wanted,
not where it is. Character bigrams make matching robust to jieba's segmentation
choices, which differ between a question and the passage that answers it.

Words come from jieba-rs (``rjieba``): jieba's dictionary and algorithm in Rust. On
DRCD dev it gives the same words as Python jieba for 931 of 1,000 paragraphs (the
rest differ around numbers and hyphens) and the same recall@1, loads its dictionary
in 0.09 s instead of 0.44 s and segments the 1,000 paragraphs in 0.05 s instead of
0.87 s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources

import rjieba

from .script import normalise

# Bump when tokens change (stopwords, stemming, normalisation): indexes built with
# another version are stale and rebuilt.
TOKENIZER_VERSION = 6

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_CJK_SPLIT = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*%?|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# "401(k)" and "403(b)" are one term; "u.s." is "us".
_PAREN_LETTER = re.compile(r"(\d+)\s*\(\s*([a-z])\s*\)")
_DOTTED = re.compile(r"\b([a-z])\.([a-z])\.")
_HAS_CONTENT = re.compile(r"[0-9a-z\u3400-\u9fff\uf900-\ufaff]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _load_words(name: str) -> frozenset[str]:
    text = resources.files("bot.data").joinpath(name).read_text(encoding="utf-8")
    words: set[str] = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.add(normalise(line))
    return frozenset(words)


def _stem(word: str) -> str:
    """A light English stemmer: plurals, -ed and -ing, and a final -e, so that
    rate/rates, trade/traded/trades and limit/limits/limited meet."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "xes", "ches", "shes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@dataclass
class Tokenizer:
    """Turns text into BM25 tokens. One instance owns its jieba dictionary."""

    bigrams: bool = True
    drop_stopwords: bool = True
    _jieba: rjieba.Jieba = field(init=False, repr=False)
    _stop: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._jieba = rjieba.Jieba()
        self._stop = _load_words("stopwords.txt")

    @property
    def stopwords(self) -> frozenset[str]:
        return self._stop

    def prepare(self, text: str) -> str:
        """Normalise text for tokenisation."""
        norm = normalise(text)
        norm = _PAREN_LETTER.sub(r"\1\2", norm)
        norm = _DOTTED.sub(r"\1\2", norm)
        return _THOUSANDS.sub("", norm)

    def _pieces(self, norm: str) -> Iterator[str]:
        """jieba words for Chinese runs; other text as it is (its words are found by
        ``_WORD``, so "3.5%" and "401k" stay whole)."""
        # Dictionary words only (no HMM): the HMM guesses words outside the dictionary
        # from context, so a question and its passage can get different guesses for
        # the same name; dictionary words and bigrams stay the same. DRCD recall@1
        # without HMM: dev 0.958, test 0.966; with it 0.957 and 0.964.
        for i, part in enumerate(_CJK_SPLIT.split(norm)):
            if i % 2:
                yield from self._jieba.cut(part, False)
            elif part:
                yield part

    def _analyse(self, norm: str) -> tuple[list[str], list[str]]:
        """Content words, and the CJK runs left once stopwords are cut out."""
        words: list[str] = []
        runs: list[str] = []
        run: list[str] = []
        for piece in self._pieces(norm):
            piece = piece.strip()
            if not piece or not _HAS_CONTENT.search(piece):
                if run:
                    runs.append("".join(run))
                    run = []
                continue
            for word in _WORD.findall(piece):
                is_cjk = not word.isascii()
                if self.drop_stopwords and word in self._stop:
                    if run:
                        runs.append("".join(run))
                        run = []
                    continue
                words.append(word if is_cjk else _stem(word))
                if is_cjk:
                    run.append(word)
                elif run:
                    runs.append("".join(run))
                    run = []
        if run:
            runs.append("".join(run))
        return words, runs

    def words(self, text: str) -> list[str]:
        """jieba words (Chinese) and stemmed words (English), without stopwords."""
        return self._analyse(self.prepare(text))[0]

    def tokens(self, text: str) -> list[str]:
        """The BM25 bag: words plus CJK character bigrams (marked with a leading '~').

        Bigrams are taken inside runs of Chinese content words, so question words
        such as 什么 or 多少 contribute neither a word nor a bigram.
        """
        words, runs = self._analyse(self.prepare(text))
        if self.bigrams:
            for run in runs:
                words.extend("~" + run[i : i + 2] for i in range(len(run) - 1))
        return words
