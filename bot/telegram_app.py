"""Telegram front end: a thin python-telegram-bot 22 adapter over the answer engine.

:func:`build_application` wires the handlers; :func:`run` serves them by long
polling or by webhook (secret token checked on every request) until SIGINT/SIGTERM
or :meth:`BackgroundBot.stop`, then shuts down gracefully (in-flight updates finish).

Design notes
- Answers are rendered as Telegram HTML by :mod:`bot.telegram_render`; every passage,
  title and user string goes through :func:`html.escape`. Link previews are off. Long
  texts are split at the 4,096-character limit on line boundaries (:func:`bot.compose.split_message`).
- Updates of different chats run concurrently; updates of one chat keep their order
  (:class:`PerChatUpdateProcessor`). Retrieval runs in a worker thread so the event
  loop keeps serving other chats, typing actions and buttons meanwhile.
- Every outgoing Bot API call goes through :class:`bot.telegram_limits.RetryingRateLimiter`: a 429 is
  retried after its ``retry_after``, timeouts and network errors with backoff.
- Button callback data is ``<kind>:<answer id>:<arg>``; the answer's passages live in
  SQLite (:mod:`bot.telegram_store`) under the 8-character id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from . import messages
from .compose import TELEGRAM_LIMIT, Answer, Passage
from .config import Settings
from .logs import redact
from .script import Lang, cjk_count, detect, to_script
from .telegram_render import (
    cited_ranks,
    clean_passage,
    esc,
    esc_text,
    excerpt,
    link,
    passage_heading,
    render_answer,
    render_passage,
    split_html,
)
from .telegram_limits import RetryingRateLimiter, UserRateLimit
from .telegram_store import StoredAnswer, TelegramStore
from .telegram_texts import LANG_BUTTONS, TOPIC_ALIASES, lang_confirmation, t, topic_question

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
ALLOWED_UPDATES = ["message", "callback_query", "inline_query"]
PASSAGES_PER_PAGE = 3
MIN_PASSAGES = 10  # retrieved per question, so "more sources" has something to show


# -- incoming updates: concurrent across chats, ordered within one -------------------------
def _order_key(update: object) -> object | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.callback_query is not None and update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None  # inline queries need no order


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Process updates concurrently, but one at a time (in arrival order) per chat."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, asyncio.Lock] = {}
        self._users: dict[object, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _order_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        self._locks.clear()
        self._users.clear()


def lang_from_code(code: str | None, default_zh: str) -> Lang:
    """A UI language from Telegram's ``language_code`` (IETF tag)."""
    code = (code or "").lower()
    if not code.startswith("zh"):
        return "en"
    if any(m in code for m in ("hans", "cn", "sg", "my")):
        return "zh-Hans"
    if any(m in code for m in ("hant", "tw", "hk", "mo")):
        return "zh-Hant"
    return default_zh  # type: ignore[return-value]


def _norm_topic(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Webhook mode: Telegram POSTs updates to ``url``; we listen on ``listen:port/url_path``."""

    url: str
    secret_token: str
    listen: str = "0.0.0.0"
    port: int = 8443
    url_path: str = ""


# -- the adapter ----------------------------------------------------------------------------
class EduTelegramBot:
    """Handlers translating Telegram updates into engine calls and back."""

    def __init__(self, settings: Settings, engine: Any, store: TelegramStore, *, own_store: bool = False,
                 engine_workers: int = 1, on_ready: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self._own_store = own_store
        # The engine keeps small caches that are not guaranteed thread-safe: one worker
        # keeps retrieval off the event loop without sharing it between threads.
        self._executor = ThreadPoolExecutor(max_workers=engine_workers, thread_name_prefix="edubot-engine")
        self._limit = UserRateLimit(settings.telegram_rate_limit)
        self._inline_limit = UserRateLimit(settings.telegram_rate_limit * 3)
        self._on_ready = on_ready
        self._started = time.time()
        self._k = max(settings.top_k, MIN_PASSAGES)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.username = ""
        self.bot_id = 0

    # -- lifecycle --------------------------------------------------------------------------
    def register(self, app: Application) -> None:
        private = filters.ChatType.PRIVATE
        groups = filters.ChatType.GROUPS
        message = filters.UpdateType.MESSAGE
        app.add_handler(CommandHandler("start", self.cmd_start, filters=message))
        app.add_handler(CommandHandler("help", self.cmd_help, filters=message))
        app.add_handler(CommandHandler(["lang", "language"], self.cmd_lang, filters=message))
        app.add_handler(CommandHandler("sources", self.cmd_sources, filters=message))
        app.add_handler(CommandHandler("about", self.cmd_about, filters=message))
        app.add_handler(CommandHandler("reset", self.cmd_reset, filters=message))
        app.add_handler(CommandHandler("ask", self.cmd_ask, filters=message))
        app.add_handler(CommandHandler("stats", self.cmd_stats, filters=message))
        app.add_handler(CallbackQueryHandler(self.on_callback))
        app.add_handler(InlineQueryHandler(self.on_inline))
        app.add_handler(MessageHandler(message & private & filters.COMMAND, self.on_unknown_command))
        app.add_handler(MessageHandler(message & private & filters.TEXT & ~filters.COMMAND, self.on_private_text))
        app.add_handler(MessageHandler(message & groups & filters.TEXT & ~filters.COMMAND, self.on_group_text))
        app.add_handler(MessageHandler(message & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_non_text))
        app.add_error_handler(self.on_error)

    async def post_init(self, app: Application) -> None:
        self.loop = asyncio.get_running_loop()
        self.username = app.bot.username
        self.bot_id = app.bot.id
        await self.register_commands(app)
        if self._on_ready:
            self._on_ready(self.username)

    async def post_shutdown(self, app: Application) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._own_store:
            with contextlib.suppress(Exception):
                self.store.close()

    async def register_commands(self, app: Application) -> None:
        """Show the commands in Telegram's menu, in English and Chinese (language_code "zh")."""
        private = ("start", "help", "lang", "sources", "about", "reset")
        group = ("ask", "help", "lang", "sources", "about", "reset")
        zh = self.settings.default_lang
        for lang, code in (("en", None), (zh, "zh")):
            for names, scope in ((private, BotCommandScopeAllPrivateChats()), (group, BotCommandScopeAllGroupChats())):
                commands = [BotCommand(n, t(f"cmd_{n}", lang)) for n in names]
                try:
                    await app.bot.set_my_commands(commands, scope=scope, language_code=code)
                except TelegramError as exc:
                    log.warning("could not register the command menu: %s", redact(str(exc)))

    # -- helpers ----------------------------------------------------------------------------
    def ui_lang(self, user: User | None, conv_lang: str | None = None) -> Lang:
        if user is None:
            return self.settings.default_lang  # type: ignore[return-value]
        pref = self.store.get_lang(user.id)
        if pref:
            return pref  # type: ignore[return-value]
        if conv_lang:
            return conv_lang  # type: ignore[return-value]
        return lang_from_code(user.language_code, self.settings.default_lang)

    def _conv_key(self, update: Update) -> str:
        chat = update.effective_chat
        user = update.effective_user
        if chat is None or chat.type == ChatType.PRIVATE:
            return f"u{user.id if user else 0}"
        return f"c{chat.id}:u{user.id if user else 0}"

    async def run_engine(self, question: str, conversation: Any, lang: str | None, k: int | None = None,
                         started: threading.Event | None = None) -> Answer:
        """``engine.answer`` in the worker thread; ``started`` is set when the worker picks it up."""
        def job() -> Answer:
            if started is not None:
                started.set()
            return self.engine.answer(question, conversation, lang=lang, k=k or self._k)

        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def send(self, bot: Any, chat_id: int, text: str, *, reply_markup: InlineKeyboardMarkup | None = None,
                   reply_to: int | None = None) -> list[Message]:
        """Send HTML text, split at the 4,096 limit; buttons go under the last part."""
        parts = split_html(text)
        sent = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            sent.append(await bot.send_message(
                chat_id, part, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
                reply_markup=reply_markup if last else None,
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
                if reply_to and i == 0 else None,
            ))
        return sent

    async def reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str,
                    reply_markup: InlineKeyboardMarkup | None = None) -> list[Message]:
        chat = update.effective_chat
        msg = update.effective_message
        in_group = chat is not None and chat.type != ChatType.PRIVATE
        return await self.send(context.bot, chat.id, text, reply_markup=reply_markup,
                               reply_to=msg.message_id if (in_group and msg) else None)

    async def _typing_refresh(self, bot: Any, chat_id: int, started: threading.Event) -> None:
        """Renew "typing" (it lasts 5 s) while the engine works on this question.

        Not while the question waits for the worker: under heavy load thousands of
        renewals for queued questions would only slow the answers down.
        """
        while True:
            await asyncio.sleep(4.5)
            if started.is_set():
                with contextlib.suppress(TelegramError):
                    await bot.send_chat_action(chat_id, ChatAction.TYPING)

    # -- questions --------------------------------------------------------------------------
    async def answer_question(self, update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
        chat = update.effective_chat
        user = update.effective_user
        if user is None or chat is None:
            return
        key = self._conv_key(update)
        conv = self.store.conversation(key)
        pref = self.store.get_lang(user.id)
        question = question.strip()
        state = "ok" if user.id in self.settings.telegram_admin_ids else self._limit.check(user.id)
        if state != "ok":
            self.store.bump("rate_limited")
            if state == "warn":  # tell once per window, then stay quiet
                lang = self.ui_lang(user, conv.lang)
                await self.reply(update, context, esc(t("rate_limited", lang, limit=self._limit.per_minute)))
            return
        self.store.touch_user(user.id)
        lang_guess: Lang = pref or (detect(question, fallback=conv.lang or self.settings.default_lang).lang  # type: ignore[assignment]
                                    if question else self.ui_lang(user, conv.lang))
        if not question:
            await self.reply(update, context, esc(messages.text("empty_question", lang_guess)))
            return
        limit = self.settings.max_question_chars
        if len(question) > limit:
            self.store.bump("too_long")
            await self.reply(update, context, esc(messages.text("too_long", lang_guess, length=len(question), limit=limit)))
            return
        started = threading.Event()
        future = asyncio.ensure_future(self.run_engine(question, conv, pref, started=started))
        with contextlib.suppress(TelegramError):
            await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
        refresher = asyncio.create_task(self._typing_refresh(context.bot, chat.id, started))
        try:
            answer = await future
        finally:
            refresher.cancel()
        if answer.turn is not None:
            self.store.add_turn(key, answer.turn)
        self.store.bump("questions")
        markup = None
        if answer.no_answer:
            self.store.bump("not_covered")
            self.store.add_unanswered(question, answer.lang, user.id, chat.id)
        else:
            self.store.bump("answered")
            cited = cited_ranks(answer, self.settings.traditional)
            answer_id = self.store.save_answer(chat.id, user.id, answer.lang, question, answer.sources,
                                               answer.passages, tuple(cited.values()))
            markup = self.answer_keyboard(answer_id, answer.lang, cited, answer.passages)
        await self.reply(update, context, render_answer(answer, self.settings.traditional), markup)

    def answer_keyboard(self, answer_id: str, lang: str, cited: dict[int, int], passages: tuple[Passage, ...],
                        vote: int = 0) -> InlineKeyboardMarkup:
        rows: list[list[InlineKeyboardButton]] = []
        full = [InlineKeyboardButton(f"📄 [{ref}]", callback_data=f"p:{answer_id}:{rank}")
                for ref, rank in list(cited.items())[:4]]
        if full:
            rows.append(full)
        if any(p.rank not in cited.values() for p in passages):
            rows.append([InlineKeyboardButton(f"📚 {t('more_sources', lang)}", callback_data=f"m:{answer_id}:0")])
        rows.append(self._feedback_row(answer_id, vote))
        return InlineKeyboardMarkup(rows)

    @staticmethod
    def _feedback_row(answer_id: str, vote: int) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton("👍 ✓" if vote > 0 else "👍", callback_data=f"f:{answer_id}:1"),
                InlineKeyboardButton("👎 ✓" if vote < 0 else "👎", callback_data=f"f:{answer_id}:-1")]

    # -- commands ---------------------------------------------------------------------------
    async def cmd_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        lang = self.ui_lang(user)
        if user:
            self.store.touch_user(user.id)
        payload = (context.args[0] if context.args else "").strip()
        if not payload:
            await self.reply(update, context, esc(t("greeting", lang)))
            return
        if payload.lower() == "help":
            await self.reply(update, context, esc(t("help", lang, username=self.username)))
            return
        topic = self.find_topic(payload)
        if topic is None:
            topics = "\n".join(f"• {esc(x)}" for x in self.engine.topics(lang))
            await self.reply(update, context,
                             esc(t("greeting", lang)) + "\n\n" + esc(t("unknown_topic", lang, payload=payload[:64]))
                             + "\n" + topics)
            return
        question = topic_question(topic, lang)
        if question is None:  # a corpus topic without a prepared question: list its documents
            docs = [d for d in self.engine.documents if d.get("topic") == topic]
            lines = [self._doc_line(d, lang) for d in docs]
            await self.reply(update, context, esc(t("topic_docs", lang)) + "\n" + "\n".join(lines))
            return
        await self.answer_question(update, context, question)

    def find_topic(self, payload: str) -> str | None:
        """A deep-link payload (``erisa``, ``eo14330``, a corpus topic name) -> corpus topic."""
        key = _norm_topic(payload)
        topics = {d.get("topic") for d in self.engine.documents if d.get("topic")}
        alias = TOPIC_ALIASES.get(key)
        if alias and alias in topics:
            return alias
        for topic in sorted(topics):
            if _norm_topic(topic) == key:
                return topic
        return None

    async def cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lang = self.ui_lang(update.effective_user)
        await self.reply(update, context, esc(t("help", lang, username=self.username)))

    async def cmd_about(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lang = self.ui_lang(update.effective_user)
        n = len(self.engine.documents)
        await self.reply(update, context, esc(t("about", lang)) + f"\n\n<i>{esc(messages.text('not_advice', lang))}</i>"
                         + f" · {n} docs")

    async def cmd_lang(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        lang = self.ui_lang(user)
        if context.args:
            choice = context.args[0].strip()
            norm = {"zh-hant": "zh-Hant", "zh-hans": "zh-Hans", "en": "en", "auto": "auto",
                    "繁體": "zh-Hant", "繁体": "zh-Hant", "简体": "zh-Hans", "簡體": "zh-Hans",
                    "english": "en"}.get(choice.lower())
            if norm is None or user is None:
                await self.reply(update, context, esc(t("lang_usage", lang)))
                return
            self.store.set_lang(user.id, None if norm == "auto" else norm)
            await self.reply(update, context, esc(lang_confirmation(norm)))
            return
        buttons = [InlineKeyboardButton(label, callback_data=f"l:{code}") for label, code in LANG_BUTTONS]
        auto = InlineKeyboardButton(f"{t('lang_auto_button', lang)} (auto)", callback_data="l:auto")
        await self.reply(update, context, esc(t("lang_prompt", lang)), InlineKeyboardMarkup([buttons, [auto]]))

    def _doc_line(self, d: dict, lang: str) -> str:
        title = to_script(d.get("title", d["doc_id"]), lang, self.settings.traditional)  # type: ignore[arg-type]
        line = "• " + link(title, d.get("url", ""))
        if d.get("date"):
            line += f" ({esc(t('as_of', lang))} {esc(str(d['date']))})"
        return line

    async def cmd_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lang = self.ui_lang(update.effective_user)
        docs = self.engine.documents
        if not docs:
            await self.reply(update, context, esc(t("no_documents", lang)))
            return
        want = "en" if lang == "en" else "zh"
        chosen: dict[str, dict] = {}
        for d in docs:  # one document per topic, in the reader's language where there is one
            key = d.get("topic") or d["doc_id"]
            fam = "en" if d.get("lang") == "en" else "zh"
            if key not in chosen or fam == want:
                chosen[key] = d
        lines = [self._doc_line(d, lang) for d in sorted(chosen.values(), key=lambda d: d.get("title", ""))]
        text = f"<b>{esc(t('sources_title', lang))}</b>\n\n" + "\n".join(lines) + f"\n\n<i>{esc(t('sources_note', lang))}</i>"
        await self.reply(update, context, text)

    async def cmd_reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self.store.clear_conversation(self._conv_key(update))
        await self.reply(update, context, esc(t("reset_done", self.ui_lang(update.effective_user))))

    async def cmd_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        msg = update.effective_message
        parts = ((msg.text or "") if msg else "").split(maxsplit=1)
        question = parts[1] if len(parts) > 1 else ""
        if not question.strip():
            await self.reply(update, context, esc(t("ask_usage", self.ui_lang(update.effective_user))))
            return
        await self.answer_question(update, context, question)

    async def cmd_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        lang = self.ui_lang(user)
        if user is None or user.id not in self.settings.telegram_admin_ids:
            await self.reply(update, context, esc(t("admins_only", lang)))
            return
        s = self.store.stats()
        c = s.counters
        up = int(time.time() - self._started)
        lines = [
            f"users {s.users} · conversations {s.conversations}",
            f"questions {c.get('questions', 0)} · answered {c.get('answered', 0)} · "
            f"not covered {c.get('not_covered', 0)} · inline {c.get('inline', 0)}",
            f"feedback 👍 {s.feedback_up} · 👎 {s.feedback_down}",
            f"rate limited {c.get('rate_limited', 0)} · too long {c.get('too_long', 0)} · errors {c.get('errors', 0)}",
            f"unanswered {s.unanswered} ({s.unanswered_distinct} distinct)",
            f"documents {len(self.engine.documents)} · up {up // 3600}h {up % 3600 // 60}m",
        ]
        top = self.store.unanswered(limit=5)
        if top:
            lines.append("")
            lines.extend(f"{item.count}× {item.question[:80]}" for item in top)
        await self.reply(update, context, "<b>/stats</b>\n" + esc("\n".join(lines)))

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.reply(update, context, esc(t("unknown_command", self.ui_lang(update.effective_user))))

    # -- messages ---------------------------------------------------------------------------
    async def on_private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.answer_question(update, context, update.effective_message.text or "")

    def _addressed(self, msg: Message) -> tuple[bool, str]:
        """Is a group message meant for the bot? Returns (addressed, text without the mention)."""
        text = msg.text or msg.caption or ""
        mentioned = False
        entities = msg.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]) if msg.text else \
            msg.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
        for ent, value in entities.items():
            if (ent.type == MessageEntity.MENTION and value.lower() == f"@{self.username}".lower()) or \
                    (ent.type == MessageEntity.TEXT_MENTION and ent.user and ent.user.id == self.bot_id):
                mentioned = True
                text = text.replace(value, " ", 1)
        replied = bool(msg.reply_to_message and msg.reply_to_message.from_user
                       and msg.reply_to_message.from_user.id == self.bot_id)
        return mentioned or replied, " ".join(text.split())

    async def on_group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        addressed, text = self._addressed(update.effective_message)
        if addressed:
            await self.answer_question(update, context, text)

    async def on_non_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is not None and chat.type != ChatType.PRIVATE:
            addressed, _ = self._addressed(update.effective_message)
            if not addressed:
                return
        await self.reply(update, context, esc(t("non_text", self.ui_lang(update.effective_user))))

    # -- buttons ----------------------------------------------------------------------------
    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        data = query.data or ""
        kind, _, rest = data.partition(":")
        lang = self.ui_lang(query.from_user)
        if kind == "l":
            choice = rest if rest in ("zh-Hant", "zh-Hans", "en", "auto") else "auto"
            self.store.set_lang(query.from_user.id, None if choice == "auto" else choice)
            await query.answer()
            with contextlib.suppress(BadRequest):  # "message is not modified"
                await query.edit_message_text(esc(lang_confirmation(choice)), parse_mode=ParseMode.HTML)
            return
        answer_id, _, arg = rest.partition(":")
        stored = self.store.get_answer(answer_id) if kind in ("m", "p", "f") else None
        if stored is None:
            await query.answer(t("expired", lang))
            return
        if kind == "f":
            await self._feedback(query, stored, 1 if arg == "1" else -1)
        elif kind == "p":
            await self._full_passage(query, context, stored, arg)
        elif kind == "m":
            await self._more_sources(query, context, stored, arg)

    async def _feedback(self, query: Any, stored: StoredAnswer, vote: int) -> None:
        changed = self.store.add_feedback(stored.id, query.from_user.id, vote, stored.question)
        await query.answer(t("feedback_thanks", stored.lang))
        markup = query.message.reply_markup if query.message else None
        if not changed or markup is None:
            return
        rows = [list(r) for r in markup.inline_keyboard if not any(
            (b.callback_data or "").startswith(f"f:{stored.id}:") for b in r)]
        rows.append(self._feedback_row(stored.id, vote))
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))

    async def _full_passage(self, query: Any, context: ContextTypes.DEFAULT_TYPE, stored: StoredAnswer, arg: str) -> None:
        passage = next((p for p in stored.passages if str(p.rank) == arg), None)
        await query.answer()
        if passage is None or query.message is None:
            return
        await self.send(context.bot, query.message.chat.id, render_passage(passage, stored.lang),
                        reply_to=query.message.message_id)

    async def _more_sources(self, query: Any, context: ContextTypes.DEFAULT_TYPE, stored: StoredAnswer, arg: str) -> None:
        start = int(arg) if arg.isdigit() else 0
        rest = [p for p in stored.passages if p.rank not in stored.cited]
        page = rest[start:start + PASSAGES_PER_PAGE]
        if not page or query.message is None:
            await query.answer(t("no_more_sources", stored.lang))
            return
        await query.answer()
        lang = stored.lang
        blocks = [f"<b>{esc(t('more_sources_title', lang))}</b>"]
        for p in page:
            blocks.append(passage_heading(p, lang) + "\n" + esc(excerpt(clean_passage(p.text))))
        rows = [[InlineKeyboardButton(f"📄 #{p.rank}", callback_data=f"p:{stored.id}:{p.rank}") for p in page]]
        if start + PASSAGES_PER_PAGE < len(rest):
            rows.append([InlineKeyboardButton(f"📚 {t('more_sources', lang)}",
                                              callback_data=f"m:{stored.id}:{start + PASSAGES_PER_PAGE}")])
        # The pressed button has done its job: take it off the message it was under.
        markup = query.message.reply_markup
        if markup is not None:
            keep = [list(r) for r in markup.inline_keyboard
                    if not any((b.callback_data or "") == query.data for b in r)]
            with contextlib.suppress(BadRequest):
                await query.edit_message_reply_markup(InlineKeyboardMarkup(keep) if keep else None)
        await self.send(context.bot, query.message.chat.id, "\n\n".join(blocks),
                        reply_markup=InlineKeyboardMarkup(rows), reply_to=query.message.message_id)

    # -- inline mode ------------------------------------------------------------------------
    async def on_inline(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.inline_query
        text = " ".join(query.query.split())
        user = query.from_user
        pref = self.store.get_lang(user.id)
        lang: Lang = pref or (detect(text, fallback=self.settings.default_lang).lang  # type: ignore[assignment]
                              if cjk_count(text) else lang_from_code(user.language_code, self.settings.default_lang))
        if len(text) < 3 or len(text) > self.settings.max_question_chars:
            await query.answer([], cache_time=300, button=InlineQueryResultsButton(t("inline_hint", lang), start_parameter="help"))
            return
        if user.id not in self.settings.telegram_admin_ids and self._inline_limit.check(user.id) != "ok":
            self.store.bump("rate_limited")
            await query.answer([], cache_time=5, is_personal=True, button=InlineQueryResultsButton(
                t("rate_limited", lang, limit=self._inline_limit.per_minute)[:64], start_parameter="help"))
            return
        answer = await self.run_engine(text, None, pref, k=self.settings.top_k)
        self.store.bump("inline")
        header = f"<b>{esc(t('asked', answer.lang))}:</b> {esc(text)}"
        body = render_answer(answer, self.settings.traditional, limit=TELEGRAM_LIMIT - len(header) - 2, header=header)
        rid = secrets.token_hex(6)
        results = [InlineQueryResultArticle(
            id=f"{rid}-a",
            title=(t("inline_not_covered", answer.lang) + ": " if answer.no_answer else "") + text[:100],
            description=excerpt(answer.quotes[0].text, 120) if answer.quotes else excerpt(answer.intro, 120),
            input_message_content=InputTextMessageContent(body, parse_mode=ParseMode.HTML,
                                                          link_preview_options=NO_PREVIEW),
        )]
        if not answer.no_answer:
            for p in answer.passages[:3]:
                content = passage_heading(p, answer.lang) + "\n\n" + esc_text(excerpt(clean_passage(p.text), 3000))
                results.append(InlineQueryResultArticle(
                    id=f"{rid}-p{p.rank}",
                    title=f"{t('inline_passage', answer.lang)} #{p.rank}: {p.title}"[:120],
                    description=excerpt(clean_passage(p.text), 120),
                    input_message_content=InputTextMessageContent(content, parse_mode=ParseMode.HTML,
                                                                  link_preview_options=NO_PREVIEW),
                ))
        await query.answer(results, cache_time=60, is_personal=True)

    # -- errors -----------------------------------------------------------------------------
    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        uid = update.update_id if isinstance(update, Update) else None
        trace = "".join(traceback.format_exception(type(err), err, err.__traceback__)) if err else "?"
        log.error("update %s failed: %s", uid, redact(trace))
        with contextlib.suppress(Exception):
            self.store.bump("errors")
        if not isinstance(update, Update):
            return
        try:
            lang = self.ui_lang(update.effective_user) if update.effective_user else "en"
        except Exception:  # noqa: BLE001 - the store may be what failed
            lang = "en"
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(t("error", lang), show_alert=True)
                return
        if update.effective_chat is not None and update.effective_message is not None:
            with contextlib.suppress(TelegramError):
                await self.reply(update, context, esc(t("error", lang)))


# -- building and running -------------------------------------------------------------------
def api_urls(base: str) -> tuple[str, str]:
    """Bot API base URL and file URL from ``TELEGRAM_API_BASE_URL`` (server root or ``…/bot``)."""
    base = base.strip().rstrip("/")
    if base.endswith("/bot"):
        base = base[: -len("/bot")]
    return f"{base}/bot", f"{base}/file/bot"


async def check_token(settings: Settings) -> str:
    """Ask the Bot API who we are: the bot's username, or InvalidToken / NetworkError."""
    from telegram import Bot

    kwargs: dict[str, str] = {}
    if settings.telegram_api_base_url:
        kwargs["base_url"], kwargs["base_file_url"] = api_urls(settings.telegram_api_base_url)
    async with Bot(settings.telegram_token, **kwargs) as bot:
        return bot.username


def build_application(settings: Settings, engine: Any, *, store: TelegramStore | None = None,
                      on_ready: Callable[[str], None] | None = None, engine_workers: int = 1,
                      concurrent_updates: int = 256) -> Application:
    """The python-telegram-bot Application for ``engine``; run it with :func:`run`."""
    own = store is None
    store = store or TelegramStore.open(settings.telegram_db)
    edubot = EduTelegramBot(settings, engine, store, own_store=own, engine_workers=engine_workers, on_ready=on_ready)
    builder = (
        Application.builder()
        .token(settings.telegram_token)
        .concurrent_updates(PerChatUpdateProcessor(concurrent_updates))
        .rate_limiter(RetryingRateLimiter())
        .post_init(edubot.post_init)
        .post_shutdown(edubot.post_shutdown)
        .connect_timeout(10)
        .read_timeout(20)
        .write_timeout(20)
        .pool_timeout(10)
    )
    if settings.telegram_api_base_url:
        base_url, file_url = api_urls(settings.telegram_api_base_url)
        builder = builder.base_url(base_url).base_file_url(file_url)
    app = builder.build()
    app.bot_data["edubot"] = edubot
    edubot.register(app)
    return app


def run(app: Application, webhook: WebhookConfig | None = None, *, stop_signals: Any = ...,
        poll_timeout: int = 30, drop_pending_updates: bool = False) -> None:
    """Serve until a stop signal (SIGINT/SIGTERM) or ``app.stop_running()``; blocks.

    Uses a fresh event loop each time, so it can be called again (or in a thread).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    kwargs: dict[str, Any] = {"close_loop": True, "drop_pending_updates": drop_pending_updates,
                              "allowed_updates": ALLOWED_UPDATES}
    if stop_signals is not ...:
        kwargs["stop_signals"] = stop_signals
    try:
        if webhook is None:
            app.run_polling(poll_interval=0.0, timeout=poll_timeout, **kwargs)
        else:
            app.run_webhook(listen=webhook.listen, port=webhook.port, url_path=webhook.url_path,
                            webhook_url=webhook.url, secret_token=webhook.secret_token, **kwargs)
    finally:
        asyncio.set_event_loop(None)


class BackgroundBot:
    """Run an Application in a thread (tests, benchmarks, embedding); ``stop()`` shuts it down."""

    def __init__(self, app: Application, webhook: WebhookConfig | None = None, poll_timeout: int = 10) -> None:
        self.app = app
        self.webhook = webhook
        self.poll_timeout = poll_timeout
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def edubot(self) -> EduTelegramBot:
        return self.app.bot_data["edubot"]

    def _main(self) -> None:
        try:
            run(self.app, self.webhook, stop_signals=None, poll_timeout=self.poll_timeout)
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self.error = exc

    def start(self, timeout: float = 30.0) -> BackgroundBot:
        self._thread = threading.Thread(target=self._main, name="edubot-telegram", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.app.running:
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"bot failed to start: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError("bot did not start in time")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        loop = self.edubot.loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(self.app.stop_running)
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError("bot did not stop in time")

    def __enter__(self) -> BackgroundBot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "BackgroundBot", "EduTelegramBot", "PerChatUpdateProcessor", "RetryingRateLimiter", "UserRateLimit",
    "WebhookConfig", "api_urls", "build_application", "check_token", "render_answer", "run", "split_html",
]
