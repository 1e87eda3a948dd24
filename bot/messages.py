"""Fixed texts the engine and front ends show, in each reader's language.

Written in Traditional Chinese and English; Simplified is derived with OpenCC so
the two Chinese versions cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

from .script import Lang, to_simplified

_TEXTS: dict[str, dict[str, str]] = {
    "not_covered": {
        "en": "I can't find this in my sources, so I won't guess. I can answer questions about:",
        "zh-Hant": "我的資料來源沒有涵蓋這個問題,所以我不作猜測。我可以回答這些主題的問題:",
    },
    "not_advice": {
        "en": "Education only, not investment advice.",
        "zh-Hant": "僅供投資者教育,並非投資建議。",
    },
    "advice_note": {
        "en": (
            "I can't tell you what to buy or how to invest your own money: that depends on your "
            "circumstances, and a licensed adviser who knows them can help. Here is what the sources say:"
        ),
        "zh-Hant": (
            "我無法告訴你該買甚麼或如何投資你自己的錢:這取決於你的個人情況,"
            "可向了解你情況的持牌顧問諮詢。以下是資料來源的相關內容:"
        ),
    },
    "advice_short": {
        "en": "I can't tell you what to buy or how to invest your own money.",
        "zh-Hant": "我無法告訴你該買甚麼或如何投資你自己的錢。",
    },
    "sources": {"en": "Sources", "zh-Hant": "資料來源"},
    "empty_question": {
        "en": "Please type a question, for example: What is Executive Order 14330?",
        "zh-Hant": "請輸入問題,例如:第14330號行政命令是甚麼?",
    },
    "too_long": {
        "en": "That message is too long ({length} characters). Please ask in under {limit} characters.",
        "zh-Hant": "訊息太長({length}字)。請在{limit}字以內提問。",
    },
    "written_by": {"en": "{title} — written by {author}", "zh-Hant": "{title}:作者為{author}"},
    "as_of": {"en": "as of", "zh-Hant": "截至"},
}


def localise(entry: Mapping[str, str], lang: str) -> str:
    """Pick an ``{"en", "zh-Hant"}`` entry for ``lang``; Simplified comes from OpenCC."""
    if lang == "en":
        return entry["en"]
    return to_simplified(entry["zh-Hant"]) if lang == "zh-Hans" else entry["zh-Hant"]


def text(key: str, lang: Lang, **fmt: object) -> str:
    """The fixed text ``key`` for a reader of ``lang``."""
    s = localise(_TEXTS[key], lang)
    return s.format(**fmt) if fmt else s
