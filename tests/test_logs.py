"""Logging: tokens are never written, JSON lines parse, library debug noise is filtered."""

from __future__ import annotations

import json
import logging

from bot.logs import JsonFormatter, TextFormatter, redact, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def test_redact_hides_bot_tokens() -> None:
    text = f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed"
    assert TOKEN not in redact(text) and "<token>" in redact(text)
    assert redact("nothing secret here: 12345") == "nothing secret here: 12345"


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bot.test", logging.WARNING, __file__, 1, msg, (), None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_lines_parse_and_carry_context() -> None:
    line = JsonFormatter().format(_record(f"token {TOKEN} rejected", ctx_chat=42))
    data = json.loads(line)
    assert data["level"] == "warning" and data["logger"] == "bot.test" and data["chat"] == 42
    assert TOKEN not in line


def test_text_format_redacts() -> None:
    assert TOKEN not in TextFormatter("%(message)s").format(_record(f"bad {TOKEN}"))


def test_setup_filters_libraries_that_set_debug(capsys) -> None:
    setup_logging("WARNING", "json")
    noisy = logging.getLogger("some.library")
    noisy.setLevel(logging.DEBUG)  # as bm25s does to its own logger
    noisy.debug("building index")
    logging.getLogger("bot.test").warning("visible")
    err = capsys.readouterr().err
    assert "building index" not in err and json.loads(err.strip().splitlines()[-1])["msg"] == "visible"
