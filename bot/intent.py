"""Recognising requests for personal investment advice.

The bot educates; it never tells someone what to do with their money. A request
such as "should I put my 401(k) into bitcoin?" or 「我該不該買比特幣?」 still gets
the relevant education, introduced by a clear not-advice note.
"""

from __future__ import annotations

import re

from .script import normalise

# Matched on normalised text (Simplified, lower case).
_ADVICE = [
    # English: first person + decision, or a request for a recommendation
    r"\bshould\s+(i|we)\s+(buy|sell|invest|put|move|switch|allocate|hold|keep|get\s+out|cash\s+out|pick|choose|"
    r"add|use|roll|transfer|convert|bet|go\s+all)\b",
    r"\b(is|isn't|is\s+it|is\s+now)\s+(now\s+)?(a\s+)?(good|right|bad|smart)\s+time\s+to\s+(buy|sell|invest|get)\b",
    r"\b(is it|would it be)\s+(a\s+)?(good|wise|smart|bad)\s+(idea|time|move|investment)\b",
    r"\b(do|would)\s+you\s+(recommend|suggest|advise)\b",
    r"\b(recommend|suggest)\s+(me\s+)?(a|an|some|which|what)\b",
    r"\bwhat\s+should\s+i\s+(buy|invest|do|choose|pick)\b",
    r"\b(how\s+much|what\s+percent(age)?)\s+(of\s+my|should\s+i)\b",
    r"\b(is|are)\s+\w+(\s+\w+)?\s+a\s+good\s+(buy|investment)\b",
    r"\bworth\s+(buying|investing)\b",
    r"\b(put|move|switch|allocate|invest|roll|convert|shift)\b.*\b(my|our)\s+(401\s*\(?k\)?|ira|retirement|savings|portfolio|pension)\b.*\b(into|to)\b",
    r"\b(my|our)\s+(401\s*\(?k\)?|ira|retirement|savings|portfolio|pension)\b.*\b(into|buy|move|put|allocate|switch)\b",
    r"\b(buy|sell|invest in|put .* into)\b.*\bnow\b",
    # Chinese (normalised to Simplified)
    r"我(应该|应不应该|该不该|要不要|能不能|可不可以|适合|该)\s*(买|卖|投资|投入|配置|持有|换|转|把)",
    r"(应该|应不应该|该不该|要不要|值不值得|值得)\s*(买|卖|投资|投入|配置|入手|持有|把|将|换|转)",
    r"(推荐|建议)(我|一下|一些|哪|几)",
    r"(买|投资|投入)(哪个|哪只|哪些|什么)(比较好|好|划算)",
    r"(能|可以)\s*买吗",
    r"我的\s*(401\s*\(?k\)?|退休金|退休账户|养老金|积蓄|存款).*(买|投资|投入|配置|换成|转)",
    r"(现在|目前)\s*(是|是不是)?\s*(买入|入场|进场|抄底)",
]
_ADVICE_RE = re.compile("|".join(f"(?:{p})" for p in _ADVICE))


def asks_for_advice(question: str) -> bool:
    """True when the message asks what the asker should do with their own money."""
    return bool(_ADVICE_RE.search(normalise(question)))


_AUTHOR = re.compile(
    r"\bwho\s+(wrote|writes|authored|published|is\s+the\s+author|are\s+the\s+authors)\b"
    r"|\b(author|authors|writer)\s+of\b|\bwritten\s+by\s+whom\b|\bwho\s+is\s+behind\b"
    r"|谁写|作者是|是谁写|由谁撰|哪位.*(写|撰)|出自谁|作者"
)


def asks_about_author(question: str) -> bool:
    """True for questions about who wrote a source ("Who wrote this article?", 「作者是誰?」)."""
    return bool(_AUTHOR.search(normalise(question)))
