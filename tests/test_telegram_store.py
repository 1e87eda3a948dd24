"""The Telegram front end's SQLite store, its pure helpers, and ``edubot unanswered``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.compose import Passage, Source
from bot.conversation import Turn
from bot.telegram_store import StoreError, TelegramStore, question_key
from bot.telegram_texts import TOPIC_ALIASES, TOPIC_QUESTIONS, keys, lang_confirmation, t, topic_question


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    with TelegramStore.open(tmp_path / "bot.sqlite") as s:
        yield s


def test_language_preference_round_trip_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    with TelegramStore.open(path) as s:
        assert s.get_lang(1) is None
        s.set_lang(1, "zh-Hans")
        s.set_lang(2, "en")
        s.set_lang(2, None)  # back to automatic
        with pytest.raises(ValueError):
            s.set_lang(3, "fr")
    with TelegramStore.open(path) as s:
        assert s.get_lang(1) == "zh-Hans"
        assert s.get_lang(2) is None


def test_conversation_keeps_the_last_turns(store: TelegramStore) -> None:
    for i in range(8):
        store.add_turn("u1", Turn(f"q{i}", f"r{i}", "zh-Hant", (f"d{i}.md",), i == 3), max_turns=6)
    conv = store.conversation("u1", max_turns=6)
    assert [turn.question for turn in conv.turns] == [f"q{i}" for i in range(2, 8)]
    assert conv.turns[1].no_answer is True and conv.turns[0].doc_ids == ("d2.md",)
    assert conv.lang == "zh-Hant"
    assert store.conversation("u2").turns == []
    store.clear_conversation("u1")
    assert store.conversation("u1").turns == []


def test_answer_state_behind_buttons(store: TelegramStore) -> None:
    sources = (Source(1, "a.md", "Title", "Sec", "2026-01-01", "https://example.org"),)
    passages = tuple(Passage(i, "a.md", "Title", "Sec", "https://example.org", "2026-01-01", f"text {i}", 0.5, f"c{i}", "en")
                     for i in range(1, 6))
    answer_id = store.save_answer(10, 20, "en", "What?", sources, passages, (1,))
    assert len(answer_id) == 8 and len(f"m:{answer_id}:99".encode()) <= 64
    got = store.get_answer(answer_id)
    assert got is not None
    assert got.sources == sources and got.passages == passages and got.cited == (1,)
    assert store.get_answer("missing") is None


def test_feedback_one_vote_per_user(store: TelegramStore) -> None:
    assert store.add_feedback("abc", 1, 1, "q") is True
    assert store.add_feedback("abc", 1, 1, "q") is False  # unchanged
    assert store.add_feedback("abc", 1, -1, "q") is True
    assert store.add_feedback("abc", 2, 1, "q") is True
    assert store.feedback("abc") == {1: -1, 2: 1}
    stats = store.stats()
    assert (stats.feedback_up, stats.feedback_down) == (1, 1)


def test_unanswered_groups_wordings_and_sorts_by_count(store: TelegramStore) -> None:
    store.add_unanswered("How do I bake bread?", "en", 1, 1)
    store.add_unanswered("how do i bake bread", "en", 2, 2)
    store.add_unanswered("HOW do I bake bread?!", "en", 2, 2)
    store.add_unanswered("什麼是養老金?", "zh-Hant", 3, 3)
    store.add_unanswered("什么是养老金?", "zh-Hans", 4, 4)
    store.add_unanswered("???", "en", 5, 5)  # nothing left after folding: not recorded
    items = store.unanswered()
    assert [(i.count, i.users) for i in items] == [(3, 2), (2, 2)]
    assert items[0].question == "HOW do I bake bread?!"  # the latest wording
    assert items[1].question == "什么是养老金?"
    assert store.unanswered(limit=1)[0].count == 3
    assert store.unanswered(since=9e12) == []


def test_question_key_folds_script_case_and_punctuation() -> None:
    assert question_key("什麼是ERISA?") == question_key("什么是erisa")
    assert question_key("  What's   this?! ") == "what s this"


def test_counters_and_stats(store: TelegramStore) -> None:
    store.bump("questions")
    store.bump("questions", 2)
    store.touch_user(1)
    store.set_lang(2, "en")
    store.add_turn("u1", Turn("q", "q", "en"))
    stats = store.stats()
    assert stats.counters["questions"] == 3
    assert stats.users == 2 and stats.conversations == 1


def test_open_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no bot database"):
        TelegramStore.open(tmp_path / "missing.sqlite", create=False)
    bad = tmp_path / "bad.sqlite"
    bad.write_text("this is not a database " * 100)
    with pytest.raises(StoreError, match="cannot use bot database"):
        TelegramStore.open(bad)


def test_prune_forgets_old_button_state(store: TelegramStore, tmp_path: Path) -> None:
    answer_id = store.save_answer(1, 1, "en", "q", (), (), ())
    with sqlite3.connect(str(store.path)) as db:
        db.execute("UPDATE answers SET created = 0")
    store.prune()
    assert store.get_answer(answer_id) is None


# -- texts ----------------------------------------------------------------------------------------------
def test_every_text_exists_in_all_three_languages() -> None:
    for key in keys():
        for lang in ("en", "zh-Hant", "zh-Hans"):
            assert t(key, lang, username="bot", limit=3, payload="x")
    assert t("greeting", "zh-Hans") != t("greeting", "zh-Hant")
    assert "什么" in t("greeting", "zh-Hans")


def test_topic_questions_and_aliases() -> None:
    assert set(TOPIC_ALIASES.values()) <= set(TOPIC_QUESTIONS)
    assert topic_question("eo-14330", "zh-Hans") == "第14330号行政命令是什么?"
    assert topic_question("nope", "en") is None
    assert "English" in lang_confirmation("en")
    assert "简体" in lang_confirmation("zh-Hans")


# -- edubot unanswered -------------------------------------------------------------------------------------
def _run(args: list[str]):  # noqa: ANN202
    from bot.cli import cli

    return CliRunner().invoke(cli, args, env={"EDUBOT_CONFIG": None}, catch_exceptions=False)


def test_unanswered_command_lists_most_frequent_first(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite"
    with TelegramStore.open(db) as s:
        s.add_unanswered("What about pensions in Japan?", "en", 1, 1)
        for user in (1, 2, 3):
            s.add_unanswered("Is gold a good hedge?", "en", user, user)
    result = _run(["unanswered", "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["count", "users", "last", "asked", "lang", "question"]
    assert "Is gold a good hedge?" in lines[1] and lines[1].split()[:2] == ["3", "3"]
    assert "pensions" in lines[2]

    as_json = _run(["unanswered", "--db", str(db), "--json", "-n", "1"])
    rows = [json.loads(line) for line in as_json.output.strip().splitlines()]
    assert len(rows) == 1 and rows[0]["count"] == 3 and rows[0]["question"] == "Is gold a good hedge?"


def test_unanswered_command_without_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(__import__("bot.cli", fromlist=["cli"]).cli,
                                ["unanswered", "--db", str(tmp_path / "none.sqlite")], env={"EDUBOT_CONFIG": None})
    assert result.exit_code == 3
    assert result.output.strip().startswith("error: no bot database")


def test_unanswered_command_with_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite"
    TelegramStore.open(db).close()
    result = _run(["unanswered", "--db", str(db)])
    assert result.exit_code == 0 and "No unanswered questions" in result.output
