"""User-interface strings of the Telegram front end, in English and Traditional Chinese.

Simplified Chinese is derived with OpenCC (:func:`bot.script.to_simplified`) so the
two Chinese versions cannot drift apart. Strings are plain text: the caller escapes
them (``html.escape``) before sending them with HTML parse mode.
"""

from __future__ import annotations

from functools import lru_cache

from .messages import localise
from .script import Lang

_TEXTS: dict[str, dict[str, str]] = {
    "greeting": {
        "en": (
            "Hello! I answer questions about 401(k) plans, ERISA fiduciary duties, Executive Order 14330 "
            "and crypto in retirement plans, quoting my sources with numbered citations. "
            "Ask in English, 繁體中文 or 简体中文.\n\nTry: What is Executive Order 14330?"
        ),
        "zh-Hant": (
            "你好!我解答有關401(k)退休計劃、ERISA受託人義務、第14330號行政命令及退休計劃中加密貨幣的問題,"
            "並引用資料來源、附上編號註明出處。可用繁體中文、简体中文或English提問。\n\n"
            "試試問:第14330號行政命令是什麼?"
        ),
    },
    "help": {
        "en": (
            "Type a question and I answer with quotes from my sources; the numbers [1], [2] point to the "
            "sources listed under the answer. Follow-up questions use the conversation.\n\n"
            "/lang – answer language (繁體 / 简体 / English / auto)\n"
            "/sources – the documents I quote\n"
            "/about – what this bot is\n"
            "/reset – forget our conversation\n\n"
            "In a group, mention me, reply to me or use /ask <question>. "
            "In any chat, type @{username} and a question to share a cited answer."
        ),
        "zh-Hant": (
            "直接輸入問題,我會引用資料來源作答;[1]、[2]等編號對應答案下方列出的資料來源。"
            "追問時我會參考之前的對話。\n\n"
            "/lang – 回答語言(繁體/简体/English/自動)\n"
            "/sources – 我引用的文件\n"
            "/about – 關於本機械人\n"
            "/reset – 清除對話紀錄\n\n"
            "在群組中,請提及我、回覆我的訊息或使用 /ask <問題>。"
            "在任何對話中輸入 @{username} 加上問題,即可分享附出處的答案。"
        ),
    },
    "about": {
        "en": (
            "Investor-education Q&A bot (open source). It answers only from a fixed set of documents "
            "(official sources and explainers), quoting them with titles, dates and links so you can check "
            "the originals. When the documents do not cover a question it says so instead of guessing.\n\n"
            "It is not investment, tax or legal advice and does not recommend any product. "
            "For decisions about your own money, read your plan's documents and consider a qualified, "
            "independent professional."
        ),
        "zh-Hant": (
            "投資者教育問答機械人(開源項目)。它只根據一組固定文件(官方資料及解說)作答,"
            "並列出標題、日期及連結,方便你查核原文。文件沒有涵蓋的問題,它會如實說明,不作猜測。\n\n"
            "本機械人並非投資、稅務或法律建議,亦不推薦任何產品。"
            "涉及你自己資金的決定,請細閱計劃文件,並考慮諮詢合資格的獨立專業人士。"
        ),
    },
    "lang_prompt": {
        "en": "Choose the language of my answers. \"Auto\" follows the script of each question.",
        "zh-Hant": "請選擇回答語言。「自動」會跟隨每個問題所用的文字。",
    },
    "lang_set": {
        "en": "Answers will be in English.",
        "zh-Hant": "之後會以繁體中文回答。",
    },
    "lang_set_hans": {"en": "之后会以简体中文回答。", "zh-Hant": "之后会以简体中文回答。"},
    "lang_auto": {
        "en": "Answers will follow the script of each question.",
        "zh-Hant": "之後會跟隨每個問題所用的文字作答。",
    },
    "lang_auto_button": {"en": "Auto", "zh-Hant": "自動"},
    "lang_usage": {
        "en": "Usage: /lang zh-Hant | zh-Hans | en | auto",
        "zh-Hant": "用法:/lang zh-Hant | zh-Hans | en | auto",
    },
    "reset_done": {
        "en": "Done: I have forgotten our conversation. Your language setting is kept.",
        "zh-Hant": "好的,已清除我們的對話紀錄。語言設定保持不變。",
    },
    "sources_title": {"en": "Documents I quote", "zh-Hant": "我引用的文件"},
    "sources_note": {
        "en": "Dates are the dates the facts are as of. Ask about any of these topics.",
        "zh-Hant": "日期為資料所述事實的截至日期。歡迎就以上任何主題提問。",
    },
    "as_of": {"en": "as of", "zh-Hant": "截至"},
    "no_documents": {"en": "No documents are loaded.", "zh-Hant": "目前沒有載入任何文件。"},
    "unknown_topic": {
        "en": "I don't know the topic \"{payload}\". These are the topics I cover:",
        "zh-Hant": "我不認識「{payload}」這個主題。我涵蓋以下主題:",
    },
    "topic_docs": {"en": "Documents on this topic:", "zh-Hant": "此主題的文件:"},
    "ask_usage": {
        "en": "Usage: /ask <question>, for example /ask What is Executive Order 14330?",
        "zh-Hant": "用法:/ask <問題>,例如 /ask 第14330號行政命令是什麼?",
    },
    "non_text": {
        "en": "I can only read text. Please type your question, for example: What is ERISA?",
        "zh-Hant": "我只能閱讀文字訊息。請以文字輸入問題,例如:ERISA是什麼?",
    },
    "unknown_command": {
        "en": "I don't know that command. /help lists what I can do.",
        "zh-Hant": "我不認識這個指令。輸入 /help 查看可用功能。",
    },
    "rate_limited": {
        "en": "You're asking faster than I can keep up with ({limit} questions a minute). "
              "Please wait a moment and ask again.",
        "zh-Hant": "你的提問速度太快了(每分鐘上限{limit}個問題)。請稍候片刻再問。",
    },
    "error": {
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
        "zh-Hant": "抱歉,系統出現問題。請稍後再試。",
    },
    "expired": {
        "en": "This answer has expired. Please ask again.",
        "zh-Hant": "這個答案已過期,請重新提問。",
    },
    "more_sources": {"en": "More sources", "zh-Hant": "更多資料來源"},
    "more_sources_title": {"en": "More passages", "zh-Hant": "更多相關段落"},
    "no_more_sources": {"en": "No more sources for this answer.", "zh-Hant": "這個答案沒有更多資料來源了。"},
    "full_passage": {"en": "Passage", "zh-Hant": "原文段落"},
    "feedback_thanks": {"en": "Thanks for the feedback!", "zh-Hant": "感謝你的意見!"},
    "admins_only": {"en": "This command is for the bot's admins.", "zh-Hant": "此指令只供管理員使用。"},
    "inline_hint": {"en": "Type a question to get a cited answer", "zh-Hant": "輸入問題以取得附出處的答案"},
    "inline_not_covered": {"en": "Not covered by the sources", "zh-Hant": "資料來源未有涵蓋"},
    "inline_passage": {"en": "Passage", "zh-Hant": "段落"},
    "asked": {"en": "Question", "zh-Hant": "問題"},
    # Command menu descriptions (setMyCommands), at most 256 characters each.
    "cmd_start": {"en": "Start and see an example question", "zh-Hant": "開始使用及查看示例問題"},
    "cmd_help": {"en": "How to ask and what I can do", "zh-Hant": "使用說明"},
    "cmd_lang": {"en": "Answer language: 繁體 / 简体 / English / auto", "zh-Hant": "回答語言:繁體/简体/English/自動"},
    "cmd_sources": {"en": "The documents I quote, with dates and links", "zh-Hant": "引用文件及其日期、連結"},
    "cmd_about": {"en": "What this bot is (not investment advice)", "zh-Hant": "關於本機械人(並非投資建議)"},
    "cmd_reset": {"en": "Forget our conversation", "zh-Hant": "清除對話紀錄"},
    "cmd_ask": {"en": "Ask a question in a group", "zh-Hant": "在群組中提問"},
}

# Questions that open a topic from a deep link (t.me/<bot>?start=<payload>).
TOPIC_QUESTIONS: dict[str, dict[str, str]] = {
    "erisa-fiduciary-duties": {
        "en": "What fiduciary duties does ERISA impose on 401(k) plan menus?",
        "zh-Hant": "ERISA對401(k)投資選單有什麼受託人義務?",
    },
    "eo-14330": {"en": "What is Executive Order 14330?", "zh-Hant": "第14330號行政命令是什麼?"},
    "dol-guidance-timeline": {
        "en": "How has Labor Department guidance on crypto in 401(k) plans changed?",
        "zh-Hant": "勞工部對401(k)計劃加入加密貨幣的指引有何變化?",
    },
    "401k-basics-limits": {
        "en": "What are the 401(k) contribution limits for 2025 and 2026?",
        "zh-Hant": "2025及2026年401(k)供款上限是多少?",
    },
    "crypto-etps": {"en": "What are spot bitcoin ETFs?", "zh-Hant": "什麼是比特幣現貨ETF?"},
    "investor-risks": {
        "en": "What are the risks of crypto in retirement accounts?",
        "zh-Hant": "退休帳戶投資加密貨幣有什麼風險?",
    },
    "401k-crypto-article": {
        "en": "Why did the executive order open 401(k) plans to crypto?",
        "zh-Hant": "行政命令為何向加密貨幣打開401(k)大門?",
    },
}

# Short deep-link payloads an educator can share, mapped to corpus topics.
TOPIC_ALIASES: dict[str, str] = {
    "erisa": "erisa-fiduciary-duties",
    "fiduciary": "erisa-fiduciary-duties",
    "eo": "eo-14330",
    "eo14330": "eo-14330",
    "order": "eo-14330",
    "dol": "dol-guidance-timeline",
    "labor": "dol-guidance-timeline",
    "guidance": "dol-guidance-timeline",
    "401k": "401k-basics-limits",
    "limits": "401k-basics-limits",
    "etf": "crypto-etps",
    "etfs": "crypto-etps",
    "etp": "crypto-etps",
    "risk": "investor-risks",
    "risks": "investor-risks",
    "article": "401k-crypto-article",
    "crypto": "401k-crypto-article",
}

LANG_BUTTONS: tuple[tuple[str, str], ...] = (("繁體", "zh-Hant"), ("简体", "zh-Hans"), ("English", "en"))


@lru_cache(maxsize=None)
def _lookup(key: str, lang: str) -> str:
    return localise(_TEXTS[key], lang)


def t(key: str, lang: Lang | str, **fmt: object) -> str:
    """The UI string ``key`` for a reader of ``lang`` (plain text, not yet escaped)."""
    s = _lookup(key, lang if lang in ("en", "zh-Hans") else "zh-Hant")
    return s.format(**fmt) if fmt else s


def topic_question(topic: str, lang: Lang | str) -> str | None:
    entry = TOPIC_QUESTIONS.get(topic)
    return None if entry is None else localise(entry, lang)


def lang_confirmation(choice: str) -> str:
    """The confirmation shown after /lang, in the chosen language."""
    if choice == "zh-Hans":
        return t("lang_set_hans", "en")
    if choice in ("en", "zh-Hant"):
        return t("lang_set", choice)
    return t("lang_auto", "en") + "\n" + t("lang_auto", "zh-Hant")


def keys() -> tuple[str, ...]:
    return tuple(_TEXTS)


__all__ = ["LANG_BUTTONS", "TOPIC_ALIASES", "TOPIC_QUESTIONS", "keys", "lang_confirmation", "t", "topic_question"]
