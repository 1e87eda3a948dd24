"""Advisory file locks, so two processes never write the same index or corpus at once.

``edubot build``, ``edubot add`` and a bot building its index at start-up may run
side by side. Without a lock, one build's clean-up could delete another's
half-written build folder, and two ``add`` runs could each roll back the other's
files. Each writer holds an exclusive ``flock`` on a lock file in the index folder
for as long as it writes; the others wait (saying so in the log) and give up with
:class:`Busy` after ``timeout`` seconds. Readers need no lock: a build becomes
visible in one rename.

The lock belongs to the open file, so it is released when the process ends, even
if it is killed. On systems without ``fcntl`` (Windows) writers are not serialised.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

BUILD_LOCK = ".build.lock"  # held while an index build is written
CORPUS_LOCK = ".corpus.lock"  # held while `add` or `remove` change the corpus and its index


class Busy(RuntimeError):
    """Another process holds the lock for longer than we were willing to wait."""


@contextmanager
def exclusive(path: Path, what: str, timeout: float = 600.0, poll: float = 0.1) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) while the block runs.

    ``what`` names the work in messages ("an index build in index/").
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    log.warning("waiting for %s to finish (another process holds %s)", what, path)
                    said = True
                if time.monotonic() >= deadline:
                    raise Busy(f"{what} is still running after {timeout:.0f} s (lock {path}); "
                               "try again when it has finished") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
