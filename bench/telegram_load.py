"""Load test of the Telegram front end through the local fake Bot API.

Many chats talk to the bot at once (default 200 chats x 5 messages). Each chat
sends its next message when the previous reply arrived, like a person waiting for
an answer. Reports answered messages per second, reply latency (p50/p95/p99/max,
from the update being queued at the fake server to the bot's sendMessage reaching
it) and messages lost (must be 0). Optionally the fake server answers some
sendMessage calls with 429 retry_after to show that none are lost then either.

By default the bot runs as in production, as ``edubot serve`` in its own process
(TELEGRAM_API_BASE_URL pointing at the fake server), stopped with SIGTERM at the
end; ``--in-process`` runs the Application in a thread of this process instead
(the fake server then competes with it for the GIL).

    python bench/telegram_load.py                      # 200 chats x 5 messages
    python bench/telegram_load.py --chats 50 --messages 3 --flood-429 5 --json

The index is built once into .bench-cache/telegram/ and reused on later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBotAPI  # noqa: E402

# A class's worth of questions in the three scripts, with follow-ups and one off-topic.
CONVERSATIONS = [
    ["What is Executive Order 14330?", "When was it signed?", "What does it ask the Labor Department to do?",
     "What are the 401(k) contribution limits for 2026?", "How do I bake sourdough bread?"],
    ["第14330號行政命令是什麼?", "它是哪一天簽署的?", "勞工部後來撤回了2022年的指引嗎?",
     "ERISA受託人有甚麼義務?", "退休帳戶投資加密貨幣有甚麼風險?"],
    ["什么是第14330号行政命令?", "劳工部2022年的加密货币指引说了什么?", "后来被撤回了吗?",
     "比特币现货ETF是什么时候在美国上市的?", "今天天气怎么样?"],
    ["What did the Labor Department say about crypto in 2022?", "Was that guidance withdrawn?",
     "What are ERISA fiduciary duties?", "What are spot bitcoin ETFs?", "What risks should investors know about?"],
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q * (len(s) - 1))))
    return s[k]


async def drive(api: FakeBotAPI, chats: int, messages: int, timeout: float) -> tuple[list[float], int, float]:
    """Runs in the fake server's loop: every chat sends, waits for its reply, sends the next."""
    latencies: list[float] = []
    lost = 0

    async def chat(i: int) -> None:
        nonlocal lost
        chat_id = 1_000_000 + i
        script = CONVERSATIONS[i % len(CONVERSATIONS)]
        for n in range(messages):
            started = time.monotonic()
            api.send_text(script[n % len(script)], chat_id=chat_id, language_code=("en", "zh-hant", "zh-hans")[i % 3])
            try:
                reply = await asyncio.wait_for(api.wait_message_async(chat_id, n + 1), timeout)
            except asyncio.TimeoutError:
                lost += messages - n
                return
            latencies.append(reply.at - started)

    started = time.monotonic()
    await asyncio.gather(*(chat(i) for i in range(chats)))
    return latencies, lost, time.monotonic() - started


@contextmanager
def bot_process(api: FakeBotAPI, corpus: Path, index: Path, db: Path, rate_limit: int) -> Iterator[None]:
    """``edubot serve`` in a child process, polling the fake server; SIGTERM at the end."""
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_API_BASE_URL": api.url,
           "EDUBOT_TELEGRAM_RATE_LIMIT": str(rate_limit)}
    env.pop("EDUBOT_CONFIG", None)
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--corpus", str(corpus), "--index", str(index),
                             "serve", "--db", str(db)], cwd=ROOT, env=env, stdout=log, stderr=log, text=True)
    try:
        api.send_text("/help", chat_id=1)  # warm-up: the bot is up once this is answered
        while not api.messages(1):
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"edubot serve exited with {proc.returncode}:\n{log.read()}")
            time.sleep(0.05)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0:
            log.seek(0)
            print(f"edubot serve exited with {code}:\n{log.read()}", file=sys.stderr)
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5, help="messages per chat")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=ROOT / ".bench-cache" / "telegram" / "index")
    parser.add_argument("--in-process", action="store_true", help="run the Application in a thread of this process")
    parser.add_argument("--workers", type=int, default=1, help="--in-process: engine worker threads (default 1)")
    parser.add_argument("--flood-429", type=int, default=0, metavar="N",
                        help="answer N sendMessage calls with 429 retry_after=1 during the run")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one reply before counting it lost")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)

    from bot.engine import Engine
    from bot.telegram_app import BackgroundBot, build_application

    t0 = time.perf_counter()
    engine = Engine.open(Settings(corpus_dir=args.corpus, index_dir=args.index), build=True)  # builds once
    load_s = time.perf_counter() - t0
    rate_limit = max(engine.settings.telegram_rate_limit, args.messages + 1)
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        db = Path(tmp) / "bench.sqlite"
        if args.in_process:
            settings = replace(engine.settings, telegram_token=DEFAULT_TOKEN, telegram_api_base_url=api.url,
                               telegram_db=db, telegram_rate_limit=rate_limit)
            bot = BackgroundBot(build_application(settings, engine, engine_workers=args.workers)).start()
            runner = contextmanager(lambda: (yield))()
        else:
            del engine  # the child process loads its own
            bot = None
            runner = bot_process(api, args.corpus, args.index, db, rate_limit)
        with runner:
            if args.flood_429:
                api.fail_next("sendMessage", retry_after=1, times=args.flood_429)
            calls_before = len(api.calls)
            try:
                future = asyncio.run_coroutine_threadsafe(drive(api, args.chats, args.messages, args.timeout), api.loop)
                latencies, lost, seconds = future.result()
            finally:
                if bot is not None:
                    bot.stop()
        calls = api.calls[calls_before:]
        errors = [c for c in calls if c.status >= 400 and c.status != 429]
        refused = len([c for c in calls if c.status == 429])
        typing = len([c for c in calls if c.method == "sendChatAction"])
    sent = args.chats * args.messages
    answered = len(latencies)
    mode = f"in-process, {args.workers} engine thread(s)" if args.in_process else "edubot serve in a child process"
    result = {
        "chats": args.chats, "messages_per_chat": args.messages, "sent": sent, "answered": answered, "lost": lost,
        "seconds": round(seconds, 2), "answered_per_s": round(answered / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1), "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "mode": mode, "http_errors": len(errors), "answered_429": refused,
        "typing_actions": typing, "index_load_s": round(load_s, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        rows = [
            ("chats x messages", f"{args.chats} x {args.messages} = {sent}"),
            ("answered", f"{answered}"),
            ("lost", f"{lost}"),
            ("wall time", f"{seconds:.2f} s"),
            ("answered / s", f"{result['answered_per_s']}"),
            ("reply latency p50", f"{result['p50_ms']} ms"),
            ("reply latency p95", f"{result['p95_ms']} ms"),
            ("reply latency p99", f"{result['p99_ms']} ms"),
            ("reply latency max", f"{result['max_ms']} ms"),
            ("typing actions sent", f"{typing}"),
            ("429s answered by the fake server", f"{refused}"),
            ("other HTTP errors", f"{len(errors)}"),
            ("bot", mode),
            ("machine", result["machine"]),
        ]
        width = max(len(k) for k, _ in rows)
        print(f"{'metric':<{width}}  value")
        print(f"{'-' * width}  {'-' * 32}")
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
    return 0 if lost == 0 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
