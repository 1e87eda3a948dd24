"""One writer at a time (bot.locks): index builds and corpus changes wait for each other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot import index as index_module
from bot.corpus import load_corpus
from bot.encoders import load_encoder
from bot.index import IndexUnavailable, build_index, current_build, load_index
from bot.locks import BUILD_LOCK, CORPUS_LOCK, Busy, exclusive
from bot.tokens import Tokenizer

DOC = "---\ntitle: Fees\nlanguage: en\n---\n## Fees\nHigh fees reduce the net return of a retirement account.\n"


class Holder:
    """Another process holding ``path`` locked for ``seconds``."""

    def __init__(self, path: Path, seconds: float) -> None:
        code = textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print("locked", flush=True)
            time.sleep({seconds})
        """)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "locked"

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "fees.en.md").write_text(DOC, encoding="utf-8")
    return root


def test_a_held_lock_makes_others_wait_then_give_up(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with Holder(lock, 30):
        started = time.monotonic()
        with pytest.raises(Busy, match=r"a test job is still running after 0 s"):
            with exclusive(lock, "a test job", timeout=0.3):
                pytest.fail("the lock was taken twice")
        assert time.monotonic() - started >= 0.3


def test_waiting_ends_when_the_holder_finishes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lock = tmp_path / "x.lock"
    ran = []
    with Holder(lock, 0.8):
        with exclusive(lock, "a test job", timeout=30):
            ran.append(True)
    assert ran and "waiting for a test job" in caplog.text


def test_lock_is_released_after_an_error(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with pytest.raises(ValueError):
        with exclusive(lock, "job"):
            raise ValueError("boom")
    with exclusive(lock, "job", timeout=0.1):
        pass


def test_build_waits_for_another_build_and_says_what_blocks_it(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with Holder(index_dir / BUILD_LOCK, 30):
        with pytest.raises(IndexUnavailable, match=r"an index build in .* is still running"):
            build_index(load_corpus(corpus), index_dir, load_encoder("use-multilingual"), Tokenizer(), wait=0.3)
    assert current_build(index_dir) is None  # nothing half-written was left live
    report = build_index(load_corpus(corpus), index_dir, load_encoder("use-multilingual"), Tokenizer(), wait=5)
    assert report.manifest.n_documents == 1


def test_two_builds_at_once_both_succeed(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    cmd = [sys.executable, "-m", "bot", "--corpus", str(corpus), "--index", str(index_dir), "build"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "Traceback" not in "".join(err for _, err in outs)
    builds = [p for p in index_dir.iterdir() if p.name.startswith(("build-", ".tmp-"))]
    assert len(builds) == 1 and load_index(index_dir).manifest.n_documents == 1


def test_load_reads_again_when_the_build_is_replaced_meanwhile(corpus: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir = tmp_path / "index"
    encoder, tokenizer = load_encoder("use-multilingual"), Tokenizer()
    build_index(load_corpus(corpus), index_dir, encoder, tokenizer)
    real = index_module._load_build
    calls = []

    def replaced_while_reading(index_dir_: Path, build: Path | None):  # noqa: ANN202
        calls.append(build)
        if len(calls) == 1:  # another process swaps in a new build and removes this one
            (corpus / "more.en.md").write_text(DOC.replace("Fees", "Costs"), encoding="utf-8")
            build_index(load_corpus(corpus), index_dir, encoder, tokenizer)
        return real(index_dir_, build)

    monkeypatch.setattr(index_module, "_load_build", replaced_while_reading)
    loaded = load_index(index_dir)
    assert len(calls) == 2 and calls[0] != calls[1]
    assert loaded.manifest.n_documents == 2


def test_add_waits_for_no_other_writer_and_leaves_the_corpus_alone(corpus: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import locks
    from bot.config import Settings
    from bot.ingest import IngestError, add
    from bot.ingest_errors import EXIT_DATA

    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    source = tmp_path / "new.md"
    source.write_text(DOC.replace("Fees", "Vesting"), encoding="utf-8")
    real = locks.exclusive
    monkeypatch.setattr("bot.ingest.exclusive", lambda path, what, timeout=600.0: real(path, what, timeout=0.3))
    before = sorted(p.name for p in corpus.rglob("*"))
    with Holder(settings.index_dir / CORPUS_LOCK, 30):
        with pytest.raises(IngestError) as err:
            add(settings, [str(source)], build=False)
    assert err.value.code == EXIT_DATA and "another `edubot add` or `edubot remove`" in err.value.message
    assert sorted(p.name for p in corpus.rglob("*")) == before
    report = add(settings, [str(source)], build=False)  # the holder is gone
    assert [o.status for o in report.outcomes] == ["added"]
