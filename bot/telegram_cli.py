"""``edubot serve`` (the Telegram bot) and ``edubot unanswered`` (what the corpus lacks).

python-telegram-bot is imported inside the commands, so ``edubot ask`` never loads it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import click

from .cli import UserError, _open_engine, _settings
from .logs import redact

_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _webhook_config(webhook_url: str, listen: str, port: int, secret_token: str | None, url_path: str | None):  # noqa: ANN202
    from .telegram_app import WebhookConfig

    parts = urlsplit(webhook_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise UserError(f"--webhook-url {webhook_url!r}: expected https://host/path")
    if secret_token is not None and not _SECRET.match(secret_token):
        raise UserError("--secret-token / EDUBOT_WEBHOOK_SECRET: use 1-256 characters A-Z, a-z, 0-9, _ or -")
    if importlib.util.find_spec("tornado") is None:
        raise UserError("webhook mode needs tornado: pip install 'python-telegram-bot[webhooks]'")
    path = url_path if url_path is not None else parts.path.strip("/")
    return WebhookConfig(url=webhook_url, secret_token=secret_token or secrets.token_urlsafe(32),
                         listen=listen, port=port, url_path=path)


@click.command()
@click.option("--webhook-url", metavar="URL",
              help="Public HTTPS URL Telegram should POST updates to (webhook mode). Default: long polling.")
@click.option("--listen", default="0.0.0.0", show_default=True, help="Webhook mode: address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True,
              help="Webhook mode: port to listen on (behind your HTTPS reverse proxy).")
@click.option("--url-path", metavar="PATH", help="Webhook mode: local path to serve (default: the path of --webhook-url).")
@click.option("--secret-token", envvar="EDUBOT_WEBHOOK_SECRET", metavar="TOKEN",
              help="Webhook mode: secret Telegram sends with every request [env EDUBOT_WEBHOOK_SECRET] "
                   "(default: a random one per start).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="SQLite file for preferences, conversations and feedback (default: settings telegram_db).")
@click.option("--drop-pending", is_flag=True, help="Ignore messages sent while the bot was down.")
@click.pass_context
def serve(ctx: click.Context, webhook_url: str | None, listen: str, port: int, url_path: str | None,
          secret_token: str | None, db: Path | None, drop_pending: bool) -> None:
    """Run the Telegram bot (long polling, or a webhook with --webhook-url).

    \b
    The token comes from TELEGRAM_BOT_TOKEN (create a bot with @BotFather);
    TELEGRAM_API_BASE_URL points at a local Bot API server when set.
    \b
      TELEGRAM_BOT_TOKEN=123:abc edubot serve
      edubot serve --webhook-url https://bot.example.org/tg --port 8443 --secret-token "$SECRET"

    Stop with Ctrl-C or SIGTERM: replies in progress are finished first.
    """
    settings = _settings(ctx, telegram_db=db)
    if not settings.telegram_token:
        raise UserError("no bot token: set TELEGRAM_BOT_TOKEN (create a bot with @BotFather)")
    if importlib.util.find_spec("telegram") is None:
        raise UserError("the Telegram front end needs python-telegram-bot: pip install 'invest-edu-bot[telegram]'")
    webhook = _webhook_config(webhook_url, listen, port, secret_token, url_path) if webhook_url else None

    from telegram.error import InvalidToken, NetworkError, TelegramError

    from .telegram_app import build_application, check_token, run
    from .telegram_store import StoreError, TelegramStore

    api = settings.telegram_api_base_url or "https://api.telegram.org"
    rejected = f"the Bot API at {api} rejected the token in TELEGRAM_BOT_TOKEN: check it with @BotFather"
    try:  # before the engine loads, so a wrong token or URL fails in a second
        asyncio.run(check_token(settings))
    except InvalidToken:
        raise UserError(rejected) from None
    except NetworkError as exc:
        raise UserError(f"cannot reach the Telegram Bot API at {api}: {redact(str(exc))}") from None
    try:
        store = TelegramStore.open(settings.telegram_db)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    engine = _open_engine(settings)
    mode = f"webhook {webhook.url} (listening on {webhook.listen}:{webhook.port})" if webhook else "long polling"

    def ready(username: str) -> None:
        click.echo(f"edubot: @{username} is answering ({mode}, {len(engine.documents)} documents, "
                   f"data in {settings.telegram_db}). Ctrl-C stops.", err=True)

    app = build_application(settings, engine, store=store, on_ready=ready)
    try:
        run(app, webhook, drop_pending_updates=drop_pending)
    except InvalidToken:
        raise UserError(rejected) from None
    except NetworkError as exc:
        raise UserError(f"cannot reach the Telegram Bot API at {api}: {redact(str(exc))}") from None
    except TelegramError as exc:
        raise UserError(f"Telegram refused to start the bot: {redact(str(exc))}") from None
    except OSError as exc:
        where = f"{webhook.listen}:{webhook.port}" if webhook else api
        raise UserError(f"cannot serve on {where}: {exc.strerror or exc}") from None
    finally:
        store.close()
    click.echo("edubot: stopped.", err=True)


@click.command()
@click.option("-n", "--limit", type=click.IntRange(1, 10_000), default=30, show_default=True,
              help="How many distinct questions to list.")
@click.option("--days", type=click.IntRange(1, None), help="Only questions asked in the last DAYS days.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="The bot's SQLite file.")
@click.pass_context
def unanswered(ctx: click.Context, limit: int, days: int | None, as_json: bool, db: Path | None) -> None:
    """List what Telegram users asked that the corpus does not cover, most frequent first.

    Wordings that differ only in script (繁/简), case or punctuation are counted
    together. Use it to decide which documents to add to the corpus.
    """
    import time

    from .telegram_store import StoreError, TelegramStore

    settings = _settings(ctx, telegram_db=db)
    since = time.time() - days * 86400 if days else None
    try:
        with TelegramStore.open(settings.telegram_db, create=False) as store:
            items = store.unanswered(limit=limit, since=since)
    except StoreError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        for item in items:
            click.echo(json.dumps({"question": item.question, "count": item.count, "users": item.users,
                                   "lang": item.lang, "last_asked": _date(item.last_asked)}, ensure_ascii=False))
        return
    if not items:
        click.echo(f"No unanswered questions recorded in {settings.telegram_db}.")
        return
    click.echo(f"{'count':>5}  {'users':>5}  {'last asked':<10}  {'lang':<7}  question")
    for item in items:
        question = " ".join(item.question.split())
        click.echo(f"{item.count:>5}  {item.users:>5}  {_date(item.last_asked):<10}  {item.lang:<7}  {question}")


def _date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


COMMANDS = [serve, unanswered]
