"""SQLite persistence for the Telegram front end.

One file (``settings.telegram_db``) keeps what must survive a restart: each user's
language preference, the last turns of each conversation, the state behind answer
buttons (so callback data stays a short id within Telegram's 64 bytes), feedback,
the questions the corpus could not answer, and a few counters for ``/stats``.

The store is used from the bot's event loop; every call is a short local SQLite
transaction. A lock makes it safe to share between threads as well.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .compose import Passage, Source
from .conversation import MAX_TURNS, Conversation, Turn
from .script import normalise

SCHEMA_VERSION = 1
ANSWER_TTL_DAYS = 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
    user_id INTEGER PRIMARY KEY, lang TEXT, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns(
    id INTEGER PRIMARY KEY AUTOINCREMENT, conv TEXT NOT NULL, data TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS turns_conv ON turns(conv, id);
CREATE TABLE IF NOT EXISTS answers(
    id TEXT PRIMARY KEY, chat_id INTEGER, user_id INTEGER, lang TEXT NOT NULL,
    question TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS answers_created ON answers(created);
CREATE TABLE IF NOT EXISTS feedback(
    answer_id TEXT NOT NULL, user_id INTEGER NOT NULL, value INTEGER NOT NULL,
    question TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY(answer_id, user_id));
CREATE TABLE IF NOT EXISTS unanswered(
    id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, key TEXT NOT NULL,
    lang TEXT NOT NULL, user_id INTEGER, chat_id INTEGER, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS unanswered_key ON unanswered(key);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
LANG_CHOICES = ("zh-Hant", "zh-Hans", "en")


class StoreError(RuntimeError):
    """The database file cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What the buttons under one answer need: its passages and which ones it cited."""

    id: str
    chat_id: int | None
    user_id: int | None
    lang: str
    question: str
    sources: tuple[Source, ...]
    passages: tuple[Passage, ...]
    cited: tuple[int, ...]  # ranks of the passages the quotes came from


@dataclass(frozen=True, slots=True)
class UnansweredItem:
    question: str  # the most recent wording
    count: int
    users: int
    last_asked: float
    lang: str


@dataclass(frozen=True, slots=True)
class Stats:
    users: int
    conversations: int
    answers_stored: int
    feedback_up: int
    feedback_down: int
    unanswered: int
    unanswered_distinct: int
    counters: dict[str, int]


def question_key(question: str) -> str:
    """Group wordings of one question: script, width, case and punctuation folded."""
    return _NON_WORD.sub(" ", normalise(question)).strip()


class TelegramStore:
    """The bot's SQLite file. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str, *, create: bool = True) -> TelegramStore:
        path = Path(path)
        if not create and not path.is_file():
            raise StoreError(f"no bot database at {path} (the bot has not run yet, or set EDUBOT_TELEGRAM_DB)")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot use bot database {path}: {exc}") from None
        store = cls(conn, path)
        store.prune()
        return store

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TelegramStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- users ------------------------------------------------------------------------
    def get_lang(self, user_id: int) -> str | None:
        """The user's chosen answer language, or None for automatic."""
        with self._lock:
            row = self._db.execute("SELECT lang FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return row[0] if row and row[0] in LANG_CHOICES else None

    def set_lang(self, user_id: int, lang: str | None) -> None:
        if lang is not None and lang not in LANG_CHOICES:
            raise ValueError(f"unknown language {lang!r}")
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO users(user_id, lang, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET lang = excluded.lang, updated = excluded.updated",
                (user_id, lang, time.time()),
            )

    def touch_user(self, user_id: int) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO users(user_id, lang, updated) VALUES (?, NULL, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET updated = excluded.updated",
                (user_id, time.time()),
            )

    # -- conversations ----------------------------------------------------------------
    def conversation(self, conv: str, max_turns: int = MAX_TURNS) -> Conversation:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM turns WHERE conv = ? ORDER BY id DESC LIMIT ?", (conv, max_turns)
            ).fetchall()
        turns = []
        for (data,) in reversed(rows):
            d = json.loads(data)
            turns.append(Turn(d["question"], d["resolved"], d["lang"], tuple(d.get("doc_ids", ())),
                              bool(d.get("no_answer", False))))
        return Conversation(turns=turns, max_turns=max_turns)

    def add_turn(self, conv: str, turn: Turn, max_turns: int = MAX_TURNS) -> None:
        data = json.dumps({**asdict(turn), "doc_ids": list(turn.doc_ids)}, ensure_ascii=False)
        with self._lock, self._db:
            self._db.execute("INSERT INTO turns(conv, data, ts) VALUES (?, ?, ?)", (conv, data, time.time()))
            self._db.execute(
                "DELETE FROM turns WHERE conv = ? AND id NOT IN "
                "(SELECT id FROM turns WHERE conv = ? ORDER BY id DESC LIMIT ?)",
                (conv, conv, max_turns),
            )

    def clear_conversation(self, conv: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM turns WHERE conv = ?", (conv,))

    # -- answer state behind buttons ----------------------------------------------------
    def save_answer(self, chat_id: int | None, user_id: int | None, lang: str, question: str,
                    sources: tuple[Source, ...], passages: tuple[Passage, ...], cited: tuple[int, ...]) -> str:
        """Store what the buttons of an answer need; returns its short id (8 characters)."""
        data = json.dumps(
            {"sources": [asdict(s) for s in sources], "passages": [asdict(p) for p in passages],
             "cited": list(cited)},
            ensure_ascii=False,
        )
        with self._lock, self._db:
            while True:
                answer_id = secrets.token_urlsafe(6)
                try:
                    self._db.execute(
                        "INSERT INTO answers(id, chat_id, user_id, lang, question, data, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (answer_id, chat_id, user_id, lang, question, data, time.time()),
                    )
                    return answer_id
                except sqlite3.IntegrityError:  # id collision: draw again
                    continue

    def get_answer(self, answer_id: str) -> StoredAnswer | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, chat_id, user_id, lang, question, data FROM answers WHERE id = ?", (answer_id,)
            ).fetchone()
        if row is None:
            return None
        data = json.loads(row[5])
        return StoredAnswer(
            id=row[0], chat_id=row[1], user_id=row[2], lang=row[3], question=row[4],
            sources=tuple(Source(**s) for s in data["sources"]),
            passages=tuple(Passage(**p) for p in data["passages"]),
            cited=tuple(data["cited"]),
        )

    # -- feedback -------------------------------------------------------------------------
    def add_feedback(self, answer_id: str, user_id: int, value: int, question: str) -> bool:
        """Record 👍 (1) or 👎 (-1); a second vote by the same user replaces the first.

        Returns True when the stored vote changed.
        """
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT value FROM feedback WHERE answer_id = ? AND user_id = ?", (answer_id, user_id)
            ).fetchone()
            if row is not None and row[0] == value:
                return False
            self._db.execute(
                "INSERT INTO feedback(answer_id, user_id, value, question, ts) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(answer_id, user_id) DO UPDATE SET value = excluded.value, ts = excluded.ts",
                (answer_id, user_id, value, question, time.time()),
            )
            return True

    def feedback(self, answer_id: str) -> dict[int, int]:
        with self._lock:
            rows = self._db.execute("SELECT user_id, value FROM feedback WHERE answer_id = ?", (answer_id,)).fetchall()
        return {u: v for u, v in rows}

    # -- unanswered questions --------------------------------------------------------------
    def add_unanswered(self, question: str, lang: str, user_id: int | None, chat_id: int | None) -> None:
        key = question_key(question)
        if not key:
            return
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO unanswered(question, key, lang, user_id, chat_id, ts) VALUES (?, ?, ?, ?, ?, ?)",
                (question.strip(), key, lang, user_id, chat_id, time.time()),
            )

    def unanswered(self, limit: int = 50, since: float | None = None) -> list[UnansweredItem]:
        """What users asked that the corpus does not cover, most frequent first."""
        with self._lock:
            rows = self._db.execute(
                """
                SELECT key, COUNT(*) AS n, COUNT(DISTINCT user_id), MAX(ts),
                       (SELECT question FROM unanswered u2 WHERE u2.key = u1.key ORDER BY id DESC LIMIT 1),
                       (SELECT lang FROM unanswered u2 WHERE u2.key = u1.key ORDER BY id DESC LIMIT 1)
                FROM unanswered u1 WHERE ts >= ?
                GROUP BY key ORDER BY n DESC, MAX(ts) DESC LIMIT ?
                """,
                (since or 0.0, limit),
            ).fetchall()
        return [UnansweredItem(question=r[4], count=r[1], users=r[2], last_asked=r[3], lang=r[5]) for r in rows]

    # -- counters and stats -------------------------------------------------------------------
    def bump(self, name: str, by: int = 1) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def stats(self) -> Stats:
        with self._lock:
            one = lambda sql: self._db.execute(sql).fetchone()[0] or 0  # noqa: E731
            return Stats(
                users=one("SELECT COUNT(*) FROM users"),
                conversations=one("SELECT COUNT(DISTINCT conv) FROM turns"),
                answers_stored=one("SELECT COUNT(*) FROM answers"),
                feedback_up=one("SELECT COUNT(*) FROM feedback WHERE value > 0"),
                feedback_down=one("SELECT COUNT(*) FROM feedback WHERE value < 0"),
                unanswered=one("SELECT COUNT(*) FROM unanswered"),
                unanswered_distinct=one("SELECT COUNT(DISTINCT key) FROM unanswered"),
                counters=dict(self._db.execute("SELECT name, value FROM counters ORDER BY name").fetchall()),
            )

    # -- housekeeping ---------------------------------------------------------------------------
    def prune(self, answer_ttl_days: int = ANSWER_TTL_DAYS) -> None:
        """Forget button state older than ``answer_ttl_days`` (its buttons then say "expired")."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM answers WHERE created < ?", (time.time() - answer_ttl_days * 86400,))


__all__ = ["StoreError", "Stats", "StoredAnswer", "TelegramStore", "UnansweredItem", "question_key"]
