"""Chinese script handling: detection, normalisation and conversion.

Matching happens on one normalised form: NFKC, OpenCC ``t2s`` and lower case, so a
question in either script finds text in either script. Output is converted to the
asker's script; Traditional output can use regional phrasing (``s2t``, ``s2tw``,
``s2twp``, ``s2hk``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import opencc

Lang = Literal["zh-Hant", "zh-Hans", "en"]
LANGS: tuple[Lang, ...] = ("zh-Hant", "zh-Hans", "en")
TRADITIONAL_CONFIGS = ("s2t", "s2tw", "s2twp", "s2hk")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@lru_cache(maxsize=None)
def _converter(config: str) -> opencc.OpenCC:
    # OpenCC converters are immutable after construction; caching them is safe.
    return opencc.OpenCC(config)


def convert(text: str, config: str) -> str:
    """Convert ``text`` with an OpenCC configuration such as ``t2s`` or ``s2tw``."""
    if not text:
        return text
    return _converter(config).convert(text)


def to_simplified(text: str) -> str:
    return convert(text, "t2s")


# Variant characters folded together for matching only (never shown to a reader):
# Taiwan/Hong Kong 著 (意味著) is 着 in Simplified; 帳戶 (Taiwan) becomes 帐户 while
# 賬戶 (Hong Kong) and standard Simplified give 账户.
_FOLD = str.maketrans({"著": "着", "帐": "账"})


def normalise(text: str) -> str:
    """The matching form: NFKC width folding, Simplified characters, variants folded, lower case."""
    return to_simplified(unicodedata.normalize("NFKC", text)).translate(_FOLD).lower()


def cjk_count(text: str) -> int:
    return len(_CJK.findall(text))


@dataclass(frozen=True, slots=True)
class Detected:
    """What a message is written in.

    ``lang`` is the language/script answers should use; ``mixed`` is true when the
    message mixes Chinese with a substantial amount of English; ``ambiguous`` when
    the Chinese characters are the same in both scripts (e.g. 「你好」), so the
    script was decided by the fallback.
    """

    lang: Lang
    mixed: bool = False
    ambiguous: bool = False
    traditional_marks: int = 0
    simplified_marks: int = 0


@lru_cache(maxsize=1)
def _shared_chars() -> frozenset[str]:
    text = resources.files("bot.data").joinpath("shared_chars.txt").read_text(encoding="utf-8")
    return frozenset("".join(line for line in text.splitlines() if not line.startswith("#")).strip())


def _char_by_char(chars: str, config: str) -> str:
    # One character per line, so OpenCC cannot apply phrase rules (一出 -> 一齣).
    out = convert("\n".join(chars), config).split("\n")
    return "".join(out) if len(out) == len(chars) and all(len(c) == 1 for c in out) else chars


def script_marks(text: str) -> tuple[int, int]:
    """Count characters that only exist in Traditional and only in Simplified form.

    Each character is judged on its own (phrase rules would turn 一出 into 一齣), and
    characters normal in both scripts (台, 里, 干 ...) are no evidence either way.
    """
    chars = "".join(_CJK.findall(text))
    if not chars:
        return 0, 0
    as_simplified = _char_by_char(chars, "t2s")
    as_traditional = _char_by_char(chars, "s2t")
    shared = _shared_chars()
    trad = sum(1 for a, b in zip(chars, as_simplified) if a != b)
    simp = sum(1 for a, b in zip(chars, as_traditional) if a != b and a not in shared)
    return trad, simp


def detect(text: str, fallback: Lang = "zh-Hant") -> Detected:
    """Detect Traditional Chinese, Simplified Chinese, English, or a mix.

    ``fallback`` decides the script when the Chinese characters carry no script
    marks (same in both scripts); pass the user's previous script or preference.
    """
    n_cjk = cjk_count(text)
    n_latin_words = len(_LATIN_WORD.findall(text))
    if n_cjk == 0:
        return Detected("en")
    # A few Chinese characters in an English sentence still make it Chinese for the
    # reader; English words inside Chinese make it "mixed" but keep the Chinese script.
    mixed = n_latin_words > 0 and n_latin_words * 2 >= max(1, n_cjk // 4)
    trad, simp = script_marks(text)
    if trad > simp:
        return Detected("zh-Hant", mixed, False, trad, simp)
    if simp > trad:
        return Detected("zh-Hans", mixed, False, trad, simp)
    zh_fallback: Lang = fallback if fallback != "en" else "zh-Hant"
    return Detected(zh_fallback, mixed, True, trad, simp)


def detect_document(text: str, fallback: Lang = "zh-Hant") -> Lang:
    """Language of a whole document: English unless Chinese characters are a real share.

    :func:`detect` judges a message, where one Chinese word makes it Chinese; in a
    document a stray Chinese link ("中文版") on an English page does not.
    """
    sample = text[:20000]
    n_cjk = cjk_count(sample)
    if n_cjk == 0 or n_cjk < len(_LATIN_WORD.findall(sample)):
        return "en"
    return detect(sample, fallback=fallback).lang


def to_script(text: str, lang: Lang, traditional_config: str = "s2t") -> str:
    """Render text for a reader of ``lang``.

    Simplified readers get ``t2s``. Traditional readers get ``traditional_config``
    applied only when the text carries Simplified marks, so Traditional source text is
    never round-tripped. English readers get the text as it is.
    """
    if lang == "zh-Hans":
        return to_simplified(text)
    if lang == "zh-Hant":
        if traditional_config not in TRADITIONAL_CONFIGS:
            raise ValueError(
                f"unknown Traditional conversion {traditional_config!r}; "
                f"choose one of {', '.join(TRADITIONAL_CONFIGS)}"
            )
        trad, simp = script_marks(text)
        if simp > 0 and simp >= trad:
            return convert(text, traditional_config)
        return text
    return text
