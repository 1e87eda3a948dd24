"""A local fake of the Telegram Bot API over real HTTP, for end-to-end tests and benchmarks.

It runs an aiohttp server on 127.0.0.1 (random port) in its own thread and speaks
the Bot API the way python-telegram-bot uses it: ``POST /bot<token>/<method>`` with
form-encoded parameters (objects JSON-encoded), answers ``{"ok": true, "result": ...}``
or ``{"ok": false, "error_code": ..., "description": ...}``. Like Telegram it

- rejects a wrong token with 401 (python-telegram-bot raises ``InvalidToken``);
- long-polls ``getUpdates`` (``offset`` confirms updates, ``timeout`` waits for new ones)
  and refuses it with 409 while a webhook is set;
- delivers updates to a webhook with the ``X-Telegram-Bot-Api-Secret-Token`` header;
- validates HTML (allowed tags, escaped ``<``/``&``), the 4,096-character message
  limit after entity parsing, callback data of at most 64 bytes, inline results;
- can answer the next call of a method with 429 ``retry_after`` (:meth:`fail_next`).

Tests inject updates (:meth:`send_text`, :meth:`send_media`, :meth:`press`,
:meth:`inline`) from any thread and read what the bot sent (:attr:`calls`,
:meth:`messages`, :meth:`wait_for`).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp
from aiohttp import web

DEFAULT_TOKEN = "123456789:AAEfakeTOKENfakeTOKENfakeTOKEN_12345"
BOT_ID = 123456789
BOT_USERNAME = "EduTestBot"

_JSON_FIELDS = {
    "reply_markup", "link_preview_options", "results", "commands", "allowed_updates", "scope",
    "reply_parameters", "entities", "button", "caption_entities",
}
_INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time", "user_id",
               "max_connections", "reply_to_message_id", "message_thread_id"}
_BOOL_FIELDS = {"is_personal", "show_alert", "drop_pending_updates", "disable_notification",
                "protect_content", "allow_sending_without_reply"}
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                 "code", "pre", "blockquote", "tg-emoji"}
_TOKEN_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>|&(#[0-9]+|#x[0-9A-Fa-f]+|lt|gt|amp|quot);|[<&]")
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                 "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Telegram's HTML parse mode: the plain text, or ApiError 400 like the real server."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos:m.start()])
        pos = m.end()
        whole = m.group(0)
        if whole in ("<", "&"):
            what = "Unclosed start tag" if whole == "<" else "Character '&' is reserved"
            raise ApiError(400, f"Bad Request: can't parse entities: {what} at byte offset {len(text[:m.start()].encode())}")
        if m.group(4) is not None:  # entity
            out.append(html.unescape(whole))
            continue
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag not in _ALLOWED_TAGS:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}" at byte offset '
                                f"{len(text[:m.start()].encode())}")
        if closing:
            if not stack or stack[-1] != tag:
                raise ApiError(400, f'Bad Request: can\'t parse entities: Unmatched end tag at byte offset '
                                    f'{len(text[:m.start()].encode())}, expected "</{stack[-1] if stack else ""}>", found "</{tag}>"')
            stack.pop()
        else:
            if tag == "a" and not re.search(r'href\s*=\s*"[^"]*"', m.group(3)):
                raise ApiError(400, "Bad Request: can't parse entities: <a> without href")
            stack.append(tag)
    out.append(text[pos:])
    if stack:
        raise ApiError(400, f'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def message_text(params: dict, key: str = "text") -> tuple[str, str]:
    """(plain text, raw) for a message text parameter with its parse mode, validated."""
    raw = params.get(key)
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    mode = (params.get("parse_mode") or "").lower()
    plain = parse_html(raw) if mode == "html" else raw
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(plain) > 4096:
        raise ApiError(400, "Bad Request: message is too long")
    return plain, raw


def check_markup(markup: Any) -> None:
    if markup is None:
        return
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup["inline_keyboard"]:
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            kinds = [k for k in ("callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat")
                     if k in button]
            if len(kinds) != 1:
                raise ApiError(400, "Bad Request: BUTTON_TYPE_INVALID")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    result: Any = None


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str  # as a user sees it (tags removed, entities decoded)
    raw: str  # as sent (HTML)
    reply_markup: dict | None
    params: dict[str, Any]
    at: float
    history: list[str] = field(default_factory=list)

    def buttons(self) -> list[dict]:
        return [b for row in (self.reply_markup or {}).get("inline_keyboard", []) for b in row]

    def button(self, startswith: str) -> dict:
        """The first button whose text starts with ``startswith``."""
        for b in self.buttons():
            if b["text"].startswith(startswith):
                return b
        raise KeyError(f"no button starting with {startswith!r} in {[b['text'] for b in self.buttons()]}")


class FakeBotAPI:
    """The fake server. ``with FakeBotAPI() as api: ...`` or ``start()`` / ``stop()``."""

    def __init__(self, token: str = DEFAULT_TOKEN, username: str = BOT_USERNAME, bot_id: int = BOT_ID) -> None:
        self.token = token
        self.username = username
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self.commands: dict[tuple[str, str], list[dict]] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self._sent: dict[int, list[SentMessage]] = {}
        self._by_id: dict[tuple[int, int], SentMessage] = {}
        self._next_msg: dict[int, itertools.count] = {}
        self._update_ids = itertools.count(1)
        self._user_msg_ids = itertools.count(10_000)
        self._callback_ids = itertools.count(1)
        self._pending: list[dict] = []
        self._open_callbacks: set[str] = set()
        self._open_inline: set[str] = set()
        self._failures: dict[str, list[tuple[int, str, dict | None]]] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._new_update: asyncio.Event | None = None
        self._waiters: dict[int, list[tuple[int, asyncio.Future]]] = {}
        self._deliver_queue: asyncio.Queue | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def start(self) -> FakeBotAPI:
        started = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(started,), name="fake-bot-api", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake Bot API did not start")
        return self

    def _main(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._cleanup())
        self._loop.close()

    async def _startup(self) -> None:
        self._new_update = asyncio.Event()
        self._deliver_queue = asyncio.Queue()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._deliverer = asyncio.ensure_future(self._deliver_loop())

    async def _cleanup(self) -> None:
        self._deliverer.cancel()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test API: failures -----------------------------------------------------------------
    def fail_next(self, method: str, *, retry_after: int = 1, status: int = 429, description: str = "",
                  times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (default: 429 retry_after)."""
        params = {"retry_after": retry_after} if status == 429 else None
        desc = description or (f"Too Many Requests: retry after {retry_after}" if status == 429 else "Internal Server Error")
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, desc, params)] * times)

    # -- test API: injecting updates ----------------------------------------------------------
    def _user(self, user_id: int, language_code: str | None) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language_code:
            user["language_code"] = language_code
        return user

    def _chat(self, chat_id: int, chat_type: str, user: dict) -> dict:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        return {"id": chat_id, "type": chat_type, "title": f"Class {abs(chat_id)}"}

    def _entities(self, text: str) -> list[dict]:
        ents = []
        m = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if m:
            ents.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group(0))})
        for m in re.finditer(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}", text):
            ents.append({"type": "mention", "offset": utf16_len(text[:m.start()]), "length": utf16_len(m.group(0))})
        return ents

    def _message(self, chat_id: int, user_id: int | None, chat_type: str, language_code: str | None,
                 reply_to: SentMessage | None) -> dict:
        user_id = user_id if user_id is not None else chat_id
        user = self._user(user_id, language_code)
        msg: dict[str, Any] = {"message_id": next(self._user_msg_ids), "date": int(time.time()),
                               "chat": self._chat(chat_id, chat_type, user), "from": user}
        if reply_to is not None:
            msg["reply_to_message"] = self._message_json(reply_to)
        return msg

    def send_text(self, text: str, *, chat_id: int, user_id: int | None = None, chat_type: str = "private",
                  language_code: str | None = "en", reply_to: SentMessage | None = None) -> dict:
        """A user's text message (commands and @mentions get their entities)."""
        msg = self._message(chat_id, user_id, chat_type, language_code, reply_to)
        msg["text"] = text
        ents = self._entities(text)
        if ents:
            msg["entities"] = ents
        return self.push({"message": msg})

    def send_media(self, kind: str, *, chat_id: int, user_id: int | None = None, chat_type: str = "private",
                   language_code: str | None = "en") -> dict:
        """A photo, sticker, voice or document message."""
        msg = self._message(chat_id, user_id, chat_type, language_code, None)
        file = {"file_id": f"F{kind}{msg['message_id']}", "file_unique_id": f"U{msg['message_id']}"}
        if kind == "photo":
            msg["photo"] = [{**file, "width": 640, "height": 480}]
        elif kind == "sticker":
            msg["sticker"] = {**file, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                              "is_video": False, "emoji": "👍"}
        elif kind == "voice":
            msg["voice"] = {**file, "duration": 3}
        elif kind == "document":
            msg["document"] = {**file, "file_name": "notes.pdf", "mime_type": "application/pdf"}
        else:
            raise ValueError(kind)
        return self.push({"message": msg})

    def press(self, message: SentMessage, data: str, *, user_id: int | None = None,
              language_code: str | None = "en") -> dict:
        """A user pressing an inline button with ``data`` under ``message``."""
        query_id = f"cb{next(self._callback_ids)}"
        with self._lock:
            self._open_callbacks.add(query_id)
        user = self._user(user_id if user_id is not None else message.chat_id, language_code)
        return self.push({"callback_query": {"id": query_id, "from": user, "chat_instance": f"ci{message.chat_id}",
                                             "message": self._message_json(message), "data": data}})

    def inline(self, query: str, *, user_id: int, language_code: str | None = "en") -> dict:
        query_id = f"iq{next(self._callback_ids)}"
        with self._lock:
            self._open_inline.add(query_id)
        return self.push({"inline_query": {"id": query_id, "from": self._user(user_id, language_code),
                                           "query": query, "offset": ""}})

    def push(self, update: dict) -> dict:
        """Queue a raw update (``update_id`` is assigned); thread-safe."""
        with self._lock:
            update = {"update_id": next(self._update_ids), **update}
        self.loop.call_soon_threadsafe(self._enqueue, update)
        return update

    def _enqueue(self, update: dict) -> None:
        if self.webhook is not None:
            assert self._deliver_queue is not None
            self._deliver_queue.put_nowait(update)
        else:
            self._pending.append(update)
            assert self._new_update is not None
            self._new_update.set()

    # -- test API: observing ------------------------------------------------------------------
    def messages(self, chat_id: int) -> list[SentMessage]:
        with self._lock:
            return list(self._sent.get(chat_id, []))

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Block until ``predicate()`` is truthy (re-checked on every request); return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met in time")
            with self._cond:
                self._cond.wait(min(remaining, 0.05))

    def wait_messages(self, chat_id: int, count: int, timeout: float = 15.0) -> list[SentMessage]:
        """Wait until the bot has sent ``count`` messages to ``chat_id`` in total."""
        return self.wait_for(lambda: (m := self.messages(chat_id)) and len(m) >= count and m, timeout)

    async def wait_message_async(self, chat_id: int, count: int) -> SentMessage:
        """In the server's loop: wait until chat ``chat_id`` has ``count`` bot messages."""
        msgs = self._sent.get(chat_id, [])
        if len(msgs) >= count:
            return msgs[count - 1]
        fut = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(chat_id, []).append((count, fut))
        return await fut

    # -- HTTP ------------------------------------------------------------------------------------
    async def _file(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return data if isinstance(data, dict) else {}
        form = await request.post() if request.method == "POST" else request.query
        params: dict[str, Any] = {}
        for key, value in {**request.query, **form}.items():
            if not isinstance(value, str):
                continue
            if key in _JSON_FIELDS or key in _INT_FIELDS or key in _BOOL_FIELDS:
                try:
                    params[key] = json.loads(value)
                    continue
                except ValueError:
                    pass
            params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            with self._lock:
                queued = self._failures.get(method)
                failure = queued.pop(0) if queued else None
            if failure is not None:
                raise ApiError(*failure)
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
            call.result = result
            body, status = {"ok": True, "result": result}, 200
        except ApiError as exc:
            call.status = exc.code
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            status = exc.code
        if method != "getUpdates" or call.result:
            self._record(call)
        return web.json_response(body, status=status)

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    # -- Bot API methods ---------------------------------------------------------------------
    def _me(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Edu Test Bot", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": True}

    async def _m_getMe(self, p: dict) -> dict:
        return self._me()

    async def _m_logOut(self, p: dict) -> bool:
        return True

    async def _m_close(self, p: dict) -> bool:
        return True

    async def _m_getUpdates(self, p: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        if offset:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        limit = int(p.get("limit") or 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        assert self._new_update is not None
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except asyncio.TimeoutError:
                return []
        allowed = p.get("allowed_updates")
        out = [u for u in self._pending[:limit]]
        if allowed:
            out = [u for u in out if any(k in u for k in allowed)]
        return out

    async def _m_setWebhook(self, p: dict) -> bool:
        url = p.get("url") or ""
        if not url:
            self.webhook = None
            return True
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": p.get("allowed_updates")}
        for update in self._pending:
            assert self._deliver_queue is not None
            self._deliver_queue.put_nowait(update)
        self._pending.clear()
        return True

    async def _m_deleteWebhook(self, p: dict) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _m_getWebhookInfo(self, p: dict) -> dict:
        info: dict[str, Any] = {"url": self.webhook["url"] if self.webhook else "", "has_custom_certificate": False,
                                "pending_update_count": len(self._pending)}
        return info

    async def _deliver_loop(self) -> None:
        assert self._deliver_queue is not None
        while True:
            update = await self._deliver_queue.get()
            hook = self.webhook
            if hook is None:
                self._pending.append(update)
                continue
            if self._session is None:
                self._session = aiohttp.ClientSession()
            headers = {"Content-Type": "application/json"}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            status = 0
            for attempt in range(20):
                try:
                    async with self._session.post(hook["url"], data=json.dumps(update), headers=headers) as resp:
                        status = resp.status
                except aiohttp.ClientError:
                    status = 0
                if status == 200:
                    break
                await asyncio.sleep(0.1 * (attempt + 1))
            with self._cond:
                self.webhook_deliveries.append((update["update_id"], status))
                self._cond.notify_all()

    def _chat_of(self, chat_id: Any) -> int:
        try:
            return int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _message_json(self, m: SentMessage) -> dict:
        chat_type = "private" if m.chat_id > 0 else "supergroup"
        chat = {"id": m.chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = f"Class {abs(m.chat_id)}"
        out: dict[str, Any] = {"message_id": m.message_id, "date": int(time.time()), "chat": chat,
                               "from": self._me(), "text": m.text}
        if m.reply_markup:
            out["reply_markup"] = m.reply_markup
        return out

    def _store(self, m: SentMessage) -> None:
        with self._cond:
            self._sent.setdefault(m.chat_id, []).append(m)
            self._by_id[(m.chat_id, m.message_id)] = m
            self._cond.notify_all()
        count = len(self._sent[m.chat_id])
        waiters = self._waiters.get(m.chat_id, [])
        for item in list(waiters):
            want, fut = item
            if count >= want and not fut.done():
                fut.set_result(self._sent[m.chat_id][want - 1])
                waiters.remove(item)

    async def _m_sendMessage(self, p: dict) -> dict:
        chat_id = self._chat_of(p.get("chat_id"))
        plain, raw = message_text(p)
        check_markup(p.get("reply_markup"))
        counter = self._next_msg.setdefault(chat_id, itertools.count(1))
        m = SentMessage(chat_id, next(counter), plain, raw, p.get("reply_markup"), p, time.monotonic())
        self._store(m)
        return self._message_json(m)

    async def _m_sendChatAction(self, p: dict) -> bool:
        self._chat_of(p.get("chat_id"))
        if p.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def _find(self, p: dict) -> SentMessage:
        key = (self._chat_of(p.get("chat_id")), int(p.get("message_id") or 0))
        m = self._by_id.get(key)
        if m is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return m

    async def _m_editMessageText(self, p: dict) -> dict:
        m = self._find(p)
        plain, raw = message_text(p)
        markup = p.get("reply_markup")
        check_markup(markup)
        if raw == m.raw and markup == m.reply_markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        with self._cond:
            m.history.append(m.text)
            m.text, m.raw, m.reply_markup = plain, raw, markup
            self._cond.notify_all()
        return self._message_json(m)

    async def _m_editMessageReplyMarkup(self, p: dict) -> dict:
        m = self._find(p)
        markup = p.get("reply_markup")
        check_markup(markup)
        if markup == m.reply_markup or (not markup and not m.reply_markup):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        with self._cond:
            m.reply_markup = markup
            self._cond.notify_all()
        return self._message_json(m)

    async def _m_answerCallbackQuery(self, p: dict) -> bool:
        qid = p.get("callback_query_id")
        with self._lock:
            if qid not in self._open_callbacks:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            self._open_callbacks.discard(qid)
        if len(p.get("text") or "") > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _m_answerInlineQuery(self, p: dict) -> bool:
        qid = p.get("inline_query_id")
        with self._lock:
            if qid not in self._open_inline:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            self._open_inline.discard(qid)
        results = p.get("results") or []
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = set()
        for r in results:
            rid = r.get("id", "")
            if not rid or len(rid.encode()) > 64 or rid in ids:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            ids.add(rid)
            if r.get("type") == "article":
                if not r.get("title"):
                    raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
                content = r.get("input_message_content") or {}
                message_text({"text": content.get("message_text"), "parse_mode": content.get("parse_mode")})
        button = p.get("button")
        if button is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", button.get("start_parameter", "x")):
            raise ApiError(400, "Bad Request: START_PARAM_INVALID")
        return True

    async def _m_setMyCommands(self, p: dict) -> bool:
        commands = p.get("commands") or []
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")) or not 1 <= len(c.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        code = p.get("language_code") or ""
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise ApiError(400, "Bad Request: invalid language code specified")
        scope = (p.get("scope") or {}).get("type", "default")
        self.commands[(scope, code)] = commands
        return True

    async def _m_getMyCommands(self, p: dict) -> list[dict]:
        scope = (p.get("scope") or {}).get("type", "default")
        return self.commands.get((scope, p.get("language_code") or ""), [])

    async def _m_deleteMyCommands(self, p: dict) -> bool:
        scope = (p.get("scope") or {}).get("type", "default")
        self.commands.pop((scope, p.get("language_code") or ""), None)
        return True


__all__ = ["BOT_ID", "BOT_USERNAME", "DEFAULT_TOKEN", "Call", "FakeBotAPI", "SentMessage", "parse_html"]
