"""Outgoing Bot API retries and the per-user question budget for the Telegram front end.

- :class:`RetryingRateLimiter`: every outgoing Bot API call goes through it; a 429 is
  retried after its ``retry_after``, timeouts and network errors with backoff.
- :class:`UserRateLimit`: at most N questions per user per minute.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import BaseRateLimiter

from .logs import redact

log = logging.getLogger(__name__)


# -- outgoing requests: retries ------------------------------------------------------------
def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RetryingRateLimiter(BaseRateLimiter[None]):
    """Retries Bot API calls so no reply is lost.

    - 429 ``RetryAfter``: wait ``retry_after`` seconds (for that chat, or every request
      when the call names no chat) and send again.
    - Timeouts and network errors (not ``BadRequest``): exponential backoff with jitter.
    Typing actions are never retried (they are cosmetic); ``getMe`` is left to
    python-telegram-bot's own bootstrap so a wrong token or URL fails at once.
    """

    NO_RETRY = frozenset({"sendChatAction", "getMe", "logOut", "close"})
    SHORT_LIVED = frozenset({"answerCallbackQuery", "answerInlineQuery"})

    def __init__(self, max_attempts: int = 6, base_delay: float = 0.5, max_delay: float = 20.0,
                 max_retry_after: float = 300.0) -> None:
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self._paused: dict[object, float] = {}  # chat id (or None for all) -> monotonic time

    async def initialize(self) -> None:
        self._paused.clear()

    async def shutdown(self) -> None:
        self._paused.clear()

    async def _wait(self, chat: object) -> None:
        now = time.monotonic()
        until = max(self._paused.get(None, 0.0), self._paused.get(chat, 0.0) if chat is not None else 0.0)
        if until > now:
            await asyncio.sleep(until - now)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat = data.get("chat_id") if isinstance(data, dict) else None
        attempts = 1 if endpoint in self.NO_RETRY else (2 if endpoint in self.SHORT_LIVED else self.max_attempts)
        attempt = 0
        while True:
            attempt += 1
            await self._wait(chat)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= attempts:
                    raise
                delay = min(retry_after_seconds(exc), self.max_retry_after)
                self._paused[chat] = max(self._paused.get(chat, 0.0), time.monotonic() + delay)
                log.warning("Telegram asked to slow down (%s): retrying in %.1f s", endpoint, delay)
            except BadRequest:
                raise
            except (TimedOut, NetworkError) as exc:
                if attempt >= attempts:
                    raise
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
                log.warning("%s failed (%s): retry %d in %.1f s", endpoint, redact(str(exc)), attempt, delay)
                await asyncio.sleep(delay)


# -- per-user question budget ------------------------------------------------------------
class UserRateLimit:
    """At most ``per_minute`` questions per user in any 60 s; one friendly warning per window."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def check(self, user_id: int, now: float | None = None) -> str:
        """"ok", "warn" (tell the user once) or "quiet" (already told)."""
        if self.per_minute <= 0:
            return "ok"
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(user_id, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) < self.per_minute:
            hits.append(now)
            self._warned.pop(user_id, None)
            self._trim(now)
            return "ok"
        if self._warned.get(user_id, -1e18) > now - self.window:
            return "quiet"
        self._warned[user_id] = now
        return "warn"

    def _trim(self, now: float) -> None:
        if len(self._hits) > 10_000:
            for uid in [u for u, h in self._hits.items() if not h or h[-1] <= now - self.window]:
                del self._hits[uid]
                self._warned.pop(uid, None)



__all__ = ["RetryingRateLimiter", "UserRateLimit", "retry_after_seconds"]
