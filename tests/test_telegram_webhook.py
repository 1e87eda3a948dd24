"""Webhook mode end to end, and ``edubot serve`` failing with one clear line.

The fake Bot API delivers updates to the bot's webhook over HTTP with the secret
token header, as Telegram does; requests with a wrong or missing secret get 403.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("telegram")

from click.testing import CliRunner  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.telegram_app import BackgroundBot, WebhookConfig, build_application  # noqa: E402
from fake_bot_api import DEFAULT_TOKEN, FakeBotAPI  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Token_for-tests"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Shares the session's index with test_telegram_e2e (built once, loaded here)."""
    from bot.engine import Engine

    root = tmp_path_factory.getbasetemp() / "telegram-engine"
    if not (root / "corpus").exists():
        shutil.copytree(REPO / "corpus", root / "corpus")
    return Engine.open(Settings(corpus_dir=root / "corpus", index_dir=root / "index"), build=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def webhook_bot(engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeBotAPI, BackgroundBot, str]]:  # noqa: ANN001
    pytest.importorskip("tornado", reason="webhook mode needs python-telegram-bot[webhooks]")
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with FakeBotAPI() as api:
        settings = replace(engine.settings, telegram_token=DEFAULT_TOKEN, telegram_api_base_url=api.url,
                           telegram_db=tmp_path_factory.mktemp("wh") / "bot.sqlite")
        config = WebhookConfig(url=url, secret_token=SECRET, listen="127.0.0.1", port=port, url_path="hook")
        bot = BackgroundBot(build_application(settings, engine), webhook=config).start()
        try:
            yield api, bot, url
        finally:
            bot.stop()


def message_update(update_id: int, chat_id: int, text: str) -> dict:
    user = {"id": chat_id, "is_bot": False, "first_name": "T", "language_code": "en"}
    message = {"message_id": update_id, "date": 1_760_000_000, "from": user, "text": text,
               "chat": {"id": chat_id, "type": "private", "first_name": "T"}}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


def test_webhook_is_registered_with_the_secret(webhook_bot: tuple[FakeBotAPI, BackgroundBot, str]) -> None:
    api, _, url = webhook_bot
    assert api.webhook is not None
    assert api.webhook["url"] == url and api.webhook["secret_token"] == SECRET
    assert set(api.webhook["allowed_updates"]) >= {"message", "callback_query", "inline_query"}
    assert not api.calls_of("getUpdates")


def test_wrong_or_missing_secret_is_refused(webhook_bot: tuple[FakeBotAPI, BackgroundBot, str]) -> None:
    api, _, url = webhook_bot
    assert post(url, message_update(900_001, 601, "What is ERISA?"), "wrong-secret") == 403
    assert post(url, message_update(900_002, 601, "What is ERISA?"), None) == 403
    assert post(url, message_update(900_003, 602, "/help"), SECRET) == 200
    msgs = api.wait_messages(602, 1)
    assert "/lang" in msgs[0].text
    assert api.messages(601) == []  # the refused updates were never processed


def test_updates_delivered_by_telegram_are_answered(webhook_bot: tuple[FakeBotAPI, BackgroundBot, str]) -> None:
    api, _, _ = webhook_bot
    api.send_text("What is Executive Order 14330?", chat_id=603)
    reply = api.wait_messages(603, 1)[0]
    assert "[1]" in reply.text
    assert api.webhook_deliveries and all(status == 200 for _, status in api.webhook_deliveries)


# -- edubot serve: one clear line, not a traceback ---------------------------------------------------
def _invoke(args: list[str], env: dict[str, str | None]):  # noqa: ANN202
    from bot.cli import cli

    base_env = {"TELEGRAM_BOT_TOKEN": None, "TELEGRAM_API_BASE_URL": None, "EDUBOT_CONFIG": None,
                "EDUBOT_WEBHOOK_SECRET": None}
    return CliRunner().invoke(cli, args, env={**base_env, **env}, catch_exceptions=False)


def test_serve_without_token_says_so(tmp_path: Path) -> None:
    result = _invoke(["serve", "--db", str(tmp_path / "x.sqlite")], {})
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == ["error: no bot token: set TELEGRAM_BOT_TOKEN (create a bot with @BotFather)"]


def test_serve_with_rejected_token_says_so(engine, tmp_path: Path) -> None:  # noqa: ANN001
    corpus, index = engine.settings.corpus_dir, engine.settings.index_dir
    with FakeBotAPI() as api:
        result = _invoke(["--corpus", str(corpus), "--index", str(index), "serve", "--db", str(tmp_path / "x.sqlite")],
                         {"TELEGRAM_BOT_TOKEN": "987654321:WRONGwrongWRONGwrongWRONGwrong12345",
                          "TELEGRAM_API_BASE_URL": api.url})
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "rejected the token" in lines[0]
    assert "Traceback" not in result.output and "WRONGwrong" not in result.output


def test_serve_rejects_a_bad_secret_token(tmp_path: Path) -> None:
    result = _invoke(["serve", "--db", str(tmp_path / "x.sqlite"), "--webhook-url", "https://bot.example.org/tg",
                      "--secret-token", "not allowed!"], {"TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN})
    assert result.exit_code == 3
    assert "secret" in result.output and len(result.output.strip().splitlines()) == 1
