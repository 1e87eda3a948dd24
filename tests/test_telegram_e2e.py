"""End to end: the real Application, polling a local fake Bot API over HTTP.

One engine is built per session (tmp copy of the corpus, its own index); one bot runs
for the module against one fake server, and the tests that need their own settings
(rate limit, restart, failing engine) start their own server and bot. Each test uses
its own chat and user ids, so they do not see each other's messages.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("telegram")

from bot.compose import Answer, Quote, Source  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.script import detect  # noqa: E402
from bot.telegram_app import BackgroundBot, build_application, render_answer, split_html  # noqa: E402
from bot.telegram_texts import t  # noqa: E402
from fake_bot_api import BOT_USERNAME, DEFAULT_TOKEN, FakeBotAPI, SentMessage, parse_html  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ADMIN = 999
SIMPLIFIED_Q = "什么是第14330号行政命令?"
TRADITIONAL_FOLLOW_UP = "它是哪一天簽署的?"
OFF_TOPIC = "How do I bake sourdough bread?"


def open_engine(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One index per test session: built by the first module that needs it, loaded by the rest."""
    from bot.engine import Engine

    root = tmp_path_factory.getbasetemp() / "telegram-engine"
    if not (root / "corpus").exists():
        shutil.copytree(REPO / "corpus", root / "corpus")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    return Engine.open(settings, build=True)


def bot_settings(engine, api: FakeBotAPI, db: Path, **kw) -> Settings:  # noqa: ANN001
    return replace(engine.settings, telegram_token=DEFAULT_TOKEN, telegram_api_base_url=api.url,
                   telegram_db=db, telegram_rate_limit=kw.pop("rate_limit", 60),
                   telegram_admin_ids=(ADMIN,), **kw)


@contextmanager
def running(settings: Settings, engine) -> Iterator[BackgroundBot]:  # noqa: ANN001
    bot = BackgroundBot(build_application(settings, engine), poll_timeout=5).start()
    try:
        yield bot
    finally:
        bot.stop()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return open_engine(tmp_path_factory)


@pytest.fixture(scope="module")
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.fixture(scope="module")
def bot(api: FakeBotAPI, engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundBot]:  # noqa: ANN001
    db = tmp_path_factory.mktemp("tg") / "bot.sqlite"
    with running(bot_settings(engine, api, db), engine) as b:
        yield b


def ask(api: FakeBotAPI, text: str, chat_id: int, *, timeout: float = 15, **kw) -> SentMessage:
    """Send ``text`` and return the bot's next message in that chat."""
    before = len(api.messages(chat_id))
    api.send_text(text, chat_id=chat_id, **kw)
    return api.wait_messages(chat_id, before + 1, timeout)[before]


def press(api: FakeBotAPI, msg: SentMessage, data: str, *, chat_id: int, expect_message: bool = True) -> SentMessage | None:
    before = len(api.messages(chat_id))
    n_answers = len(api.calls_of("answerCallbackQuery"))
    api.press(msg, data)
    api.wait_for(lambda: len(api.calls_of("answerCallbackQuery")) > n_answers)
    if expect_message:
        return api.wait_messages(chat_id, before + 1)[before]
    return None


def script(text: str) -> str:
    return detect(text).lang


# -- startup ----------------------------------------------------------------------------------
def test_commands_registered_per_language(bot: BackgroundBot, api: FakeBotAPI) -> None:
    private_en = api.commands[("all_private_chats", "")]
    private_zh = api.commands[("all_private_chats", "zh")]
    groups_en = api.commands[("all_group_chats", "")]
    assert {c["command"] for c in private_en} >= {"start", "help", "lang", "sources", "about", "reset"}
    assert "ask" in {c["command"] for c in groups_en}
    assert all(c["description"].isascii() or "English" in c["description"] for c in private_en)
    assert all(script(c["description"]) == "zh-Hant" or "English" in c["description"] for c in private_zh)
    assert api.calls_of("deleteWebhook"), "polling must clear any webhook first"


# -- /start -------------------------------------------------------------------------------------
def test_start_greets_in_the_users_language(bot: BackgroundBot, api: FakeBotAPI) -> None:
    en = ask(api, "/start", 101, language_code="en")
    assert en.text.startswith("Hello") and "401(k)" in en.text
    hant = ask(api, "/start", 102, language_code="zh-hant")
    assert script(hant.text) == "zh-Hant"
    hans = ask(api, "/start", 103, language_code="zh-hans")
    assert script(hans.text) == "zh-Hans"
    assert hans.params["parse_mode"] == "HTML"
    assert hans.params["link_preview_options"] == {"is_disabled": True}


@pytest.mark.parametrize("payload", ["erisa", "eo14330", "eo-14330", "dol", "401k", "etf", "risks"])
def test_start_payload_opens_a_topic(bot: BackgroundBot, api: FakeBotAPI, payload: str) -> None:
    chat = 110 + ["erisa", "eo14330", "eo-14330", "dol", "401k", "etf", "risks"].index(payload)
    msg = ask(api, f"/start {payload}", chat, language_code="en")
    assert "[1]" in msg.text, msg.text
    assert msg.button("📄")["callback_data"].startswith("p:")


def test_start_payload_in_traditional(bot: BackgroundBot, api: FakeBotAPI) -> None:
    msg = ask(api, "/start erisa", 120, language_code="zh-hant")
    assert "[1]" in msg.text and script(msg.text) == "zh-Hant"
    assert "ERISA" in msg.text


def test_start_unknown_payload_lists_topics_and_escapes_it(bot: BackgroundBot, api: FakeBotAPI) -> None:
    msg = ask(api, "/start <b>&x", 121, language_code="en")
    assert "<b>&x" in msg.text  # shown literally: escaped in the HTML the fake server parsed
    assert "&lt;b&gt;&amp;x" in msg.raw
    assert "Executive Order 14330" in msg.text


# -- questions and follow-ups -----------------------------------------------------------------------
def test_simplified_question_then_traditional_follow_up(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 130
    first = ask(api, SIMPLIFIED_Q, chat, language_code="en")
    assert script(first.text) == "zh-Hans"
    assert "[1]" in first.text
    assert first.params["parse_mode"] == "HTML" and first.params["link_preview_options"] == {"is_disabled": True}
    actions = [c for c in api.calls_of("sendChatAction") if c.params["chat_id"] == chat]
    assert actions and actions[0].params["action"] == "typing"
    assert actions[0].at <= first.at

    second = ask(api, TRADITIONAL_FOLLOW_UP, chat, language_code="en")
    assert script(second.text) == "zh-Hant"
    assert "[1]" in second.text
    conv = bot.edubot.store.conversation(f"u{chat}")
    assert len(conv.turns) == 2
    assert SIMPLIFIED_Q in conv.turns[1].resolved  # the follow-up was searched with its antecedent


def test_off_topic_question_is_recorded_as_unanswered(bot: BackgroundBot, api: FakeBotAPI) -> None:
    msg = ask(api, OFF_TOPIC, 140, language_code="en")
    assert "can't find" in msg.text
    assert msg.reply_markup is None
    assert any(item.question == OFF_TOPIC for item in bot.edubot.store.unanswered())


def test_oversized_and_empty_messages(bot: BackgroundBot, api: FakeBotAPI) -> None:
    limit = bot.edubot.settings.max_question_chars
    msg = ask(api, "401k " * (limit // 5 + 10), 150, language_code="en")
    assert str(limit) in msg.text and "too long" in msg.text
    empty = ask(api, "/ask", 150, language_code="en")
    assert "/ask" in empty.text
    blank_mention = ask(api, f"@{BOT_USERNAME}", -1000150, user_id=150, chat_type="supergroup")
    assert "Executive Order 14330" in blank_mention.text or "14330" in blank_mention.text
    assert not any(item.question.startswith("401k 401k") for item in bot.edubot.store.unanswered())


# -- /lang, /help, /about, /sources, /reset, /stats ------------------------------------------------------
def test_lang_keyboard_switches_and_auto_restores(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 160
    menu = ask(api, "/lang", chat, language_code="zh-hant")
    labels = [b["text"] for b in menu.buttons()]
    assert labels[:3] == ["繁體", "简体", "English"] and "auto" in labels[3]
    press(api, menu, "l:en", chat_id=chat, expect_message=False)
    edited = api.wait_for(lambda: (m := api.messages(chat)[-1]).history and m)
    assert edited.text == t("lang_set", "en")
    english = ask(api, SIMPLIFIED_Q, chat, language_code="zh-hant")
    assert "Education only, not investment advice." in english.text
    menu2 = ask(api, "/lang", chat, language_code="zh-hant")
    assert "English" in menu2.text or script(menu2.text) == "en"  # the prompt follows the chosen language
    press(api, menu2, "l:auto", chat_id=chat, expect_message=False)
    api.wait_for(lambda: api.messages(chat)[-1].history)
    auto = ask(api, SIMPLIFIED_Q, chat, language_code="zh-hant")
    assert script(auto.text) == "zh-Hans"
    typed = ask(api, "/lang zh-Hans", chat)
    assert script(typed.text) == "zh-Hans"
    assert bot.edubot.store.get_lang(chat) == "zh-Hans"
    bad = ask(api, "/lang klingon", chat)
    assert "/lang" in bad.text


def test_help_about_sources(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 170
    help_ = ask(api, "/help", chat, language_code="en")
    assert "/lang" in help_.text and f"@{BOT_USERNAME}" in help_.text
    about = ask(api, "/about", chat, language_code="en")
    assert "not investment" in about.text.lower()
    sources = ask(api, "/sources", chat, language_code="zh-hans")
    assert '<a href="https://' in sources.raw
    assert "2026-03-31" in sources.text
    assert script(sources.text) == "zh-Hans"
    unknown = ask(api, "/frobnicate", chat, language_code="en")
    assert "/help" in unknown.text


def test_reset_forgets_the_conversation(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 175
    ask(api, SIMPLIFIED_Q, chat)
    assert bot.edubot.store.conversation(f"u{chat}").turns
    msg = ask(api, "/reset", chat, language_code="en")
    assert "forgotten" in msg.text
    assert not bot.edubot.store.conversation(f"u{chat}").turns


def test_stats_is_for_admins_only(bot: BackgroundBot, api: FakeBotAPI) -> None:
    refused = ask(api, "/stats", 180, language_code="en")
    assert refused.text == t("admins_only", "en")
    stats = ask(api, "/stats", ADMIN, language_code="en")
    assert "questions" in stats.text and "feedback" in stats.text


# -- buttons ---------------------------------------------------------------------------------------------
def test_buttons_full_passage_more_sources_and_feedback(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 190
    answer = ask(api, "What is Executive Order 14330?", chat, language_code="en")
    for b in answer.buttons():
        assert len(b["callback_data"].encode()) <= 64

    full = press(api, answer, answer.button("📄 [1]")["callback_data"], chat_id=chat)
    assert full.text.startswith("#") and len(full.text) > 100
    assert full.params["reply_parameters"]["message_id"] == answer.message_id

    more_data = answer.button("📚")["callback_data"]
    more = press(api, answer, more_data, chat_id=chat)
    assert more.text.count("#") >= 1 and more.button("📄 #")
    edited = api.messages(chat)[answer.message_id - 1]
    assert all(b["callback_data"] != more_data for b in edited.buttons())  # the pressed button is gone
    deeper = more.buttons()[-1]
    if deeper["text"].startswith("📚"):
        press(api, more, deeper["callback_data"], chat_id=chat)

    answer_id = answer.button("👍")["callback_data"].split(":")[1]
    press(api, edited, f"f:{answer_id}:1", chat_id=chat, expect_message=False)
    voted = api.wait_for(lambda: (m := api.messages(chat)[answer.message_id - 1]).button("👍")["text"] == "👍 ✓" and m)
    assert voted.button("👎")["text"] == "👎"
    assert bot.edubot.store.feedback(answer_id) == {chat: 1}
    press(api, voted, f"f:{answer_id}:-1", chat_id=chat, expect_message=False)
    api.wait_for(lambda: bot.edubot.store.feedback(answer_id) == {chat: -1})
    assert not [c for c in api.calls if c.status >= 400 and c.method != "getUpdates"]


def test_expired_button_says_so(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 195
    msg = ask(api, "/help", chat)
    n = len(api.calls_of("answerCallbackQuery"))
    api.press(msg, "f:NOSUCHID:1")
    call = api.wait_for(lambda: (c := api.calls_of("answerCallbackQuery")) and len(c) > n and c[-1])
    assert call.params.get("text") == t("expired", "en")


# -- inline mode -------------------------------------------------------------------------------------------
def test_inline_query_returns_cited_articles(bot: BackgroundBot, api: FakeBotAPI) -> None:
    n = len(api.calls_of("answerInlineQuery"))
    api.inline("What is Executive Order 14330? <i>&", user_id=200)
    call = api.wait_for(lambda: (c := api.calls_of("answerInlineQuery")) and len(c) > n and c[-1])
    assert call.status == 200
    results = call.params["results"]
    assert results and all(r["type"] == "article" for r in results)
    content = results[0]["input_message_content"]
    assert content["parse_mode"] == "HTML" and content["link_preview_options"] == {"is_disabled": True}
    text = parse_html(content["message_text"])
    assert "[1]" in text and "<i>&" in text

    api.inline("", user_id=200)
    empty = api.wait_for(lambda: (c := api.calls_of("answerInlineQuery")) and len(c) > n + 1 and c[-1])
    assert empty.params["results"] == [] and empty.params["button"]["start_parameter"] == "help"


# -- groups ---------------------------------------------------------------------------------------------------
def test_group_answers_only_when_addressed(bot: BackgroundBot, api: FakeBotAPI) -> None:
    group = -1000210
    api.send_text("hello everyone, what's for lunch?", chat_id=group, user_id=211, chat_type="supergroup")
    api.send_media("sticker", chat_id=group, user_id=211, chat_type="supergroup")
    mention = ask(api, f"@{BOT_USERNAME} {SIMPLIFIED_Q}", group, user_id=212, chat_type="supergroup")
    assert "[1]" in mention.text and script(mention.text) == "zh-Hans"
    assert len(api.messages(group)) == 1  # the chatter and the sticker got nothing
    assert mention.params["reply_parameters"]["message_id"] > 0

    follow = ask(api, TRADITIONAL_FOLLOW_UP, group, user_id=212, chat_type="supergroup", reply_to=mention)
    assert script(follow.text) == "zh-Hant"
    asked = ask(api, f"/ask@{BOT_USERNAME} What is ERISA fiduciary duty?", group, user_id=213, chat_type="supergroup")
    assert "[1]" in asked.text or "can't find" in asked.text
    api.send_text("/start@SomeOtherBot", chat_id=group, user_id=213, chat_type="supergroup")
    api.send_text("just chatting again", chat_id=group, user_id=211, chat_type="supergroup")
    last = ask(api, "/help", group, user_id=211, chat_type="supergroup")
    assert "/lang" in last.text
    assert len(api.messages(group)) == 4


# -- non-text ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "document"])
def test_non_text_messages_get_a_helpful_reply(bot: BackgroundBot, api: FakeBotAPI, kind: str) -> None:
    chat = 220 + ["sticker", "photo", "voice", "document"].index(kind)
    api.send_media(kind, chat_id=chat, language_code="zh-hant")
    msg = api.wait_messages(chat, 1)[0]
    assert msg.text == t("non_text", "zh-Hant")


# -- Telegram flood control ------------------------------------------------------------------------------------
# python-telegram-bot 22 itself warns when it builds RetryAfter without PTB_TIMEDELTA set.
@pytest.mark.filterwarnings("ignore:.*retry_after:DeprecationWarning")
def test_retry_after_429_still_delivers(bot: BackgroundBot, api: FakeBotAPI) -> None:
    chat = 230
    api.fail_next("sendMessage", retry_after=1)
    msg = ask(api, "What is Executive Order 14330?", chat, language_code="en")
    assert "[1]" in msg.text
    sends = api.calls_of("sendMessage")
    refused = [c for c in sends if c.status == 429]
    assert refused and refused[-1].params["chat_id"] == chat
    assert sends[-1].status == 200 and sends[-1].at > refused[-1].at


# -- rendering -----------------------------------------------------------------------------------------------------
def test_long_answers_split_into_valid_html_messages() -> None:
    quotes = tuple(Quote(f"Sentence {i} with <tags> & ampersands. " * 40, 1 + i % 2) for i in range(8))
    sources = (Source(1, "a.md", "Title <A>", "Sec & 1", "2026-01-01", "https://example.org/a?x=1&y=2"),
               Source(2, "b.md", "標題", "", "", ""))
    answer = Answer("q", "en", False, quotes=quotes, sources=sources, footer="Education only.")
    html_text = render_answer(answer, "s2t")
    parts = split_html(html_text)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 4096
        parse_html(part)  # raises like Telegram on broken HTML
    assert "[2] 標題" in parse_html(parts[-1]) or "[2] 標題" in parse_html("".join(parts))


# -- bots with their own settings ----------------------------------------------------------------------------------
def test_flood_from_one_user_is_rate_limited(engine, tmp_path: Path) -> None:  # noqa: ANN001
    with FakeBotAPI() as api, running(bot_settings(engine, api, tmp_path / "b.sqlite", rate_limit=3), engine):
        for i in range(12):
            api.send_text(f"{OFF_TOPIC} {i}", chat_id=300)
        msgs = api.wait_messages(300, 4)
        other = ask(api, "What is Executive Order 14330?", 301)
        admin = [ask(api, f"{OFF_TOPIC} {i}", ADMIN) for i in range(5)]
        time.sleep(0.3)
        msgs = api.messages(300)
    warnings = [m for m in msgs if "faster" in m.text]
    assert len(warnings) == 1
    assert len(msgs) == 4  # three answers, one friendly warning, then quiet
    assert "[1]" in other.text
    assert len(admin) == 5


def test_restart_keeps_language_and_conversation(engine, tmp_path: Path) -> None:  # noqa: ANN001
    db = tmp_path / "restart.sqlite"
    with FakeBotAPI() as api:
        settings = bot_settings(engine, api, db)
        with running(settings, engine):
            ask(api, "/lang zh-Hans", 400, language_code="en")
            ask(api, "What is Executive Order 14330?", 400, language_code="en")
        with running(settings, engine) as second:
            hello = ask(api, "/start", 400, language_code="en")
            assert script(hello.text) == "zh-Hans"
            follow = ask(api, "When was it signed?", 400, language_code="en")
            assert "[1]" in follow.text
            turns = second.edubot.store.conversation("u400").turns
            assert len(turns) == 2 and "14330" in turns[1].resolved


class _FailingEngine:
    """The real engine, except that a question containing "boom" fails."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self._engine = engine
        self.settings = engine.settings
        self.documents = engine.documents

    def topics(self, lang):  # noqa: ANN001, ANN201
        return self._engine.topics(lang)

    def answer(self, question, conversation=None, **kw):  # noqa: ANN001, ANN201
        if "boom" in question:
            raise RuntimeError(f"engine exploded near {DEFAULT_TOKEN}")
        return self._engine.answer(question, conversation, **kw)


def test_errors_are_logged_without_token_and_reported(engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    caplog.set_level(logging.ERROR, logger="bot.telegram_app")
    with FakeBotAPI() as api, running(bot_settings(engine, api, tmp_path / "e.sqlite"), _FailingEngine(engine)):
        failed = ask(api, "boom goes the question", 500, language_code="en")
        assert failed.text == t("error", "en")
        fine = ask(api, "What is Executive Order 14330?", 500, language_code="en")
        assert "[1]" in fine.text
    assert "engine exploded" in caplog.text
    assert DEFAULT_TOKEN not in caplog.text
