"""A background thread that reports content changes of a set of files.

It watches each file's folder rather than the file, because editors save by writing a new
file and renaming it over the old one, which a watch on the old inode would miss. Only a
change of content counts: the file is hashed and compared with the last content seen.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterable
from pathlib import Path

# How often the watcher wakes without events; its first wake-up proves it is watching.
_RUST_TIMEOUT_MS = 200
# A file that keeps changing without a quiet pause is still reported this often, at least.
_LONGEST_GROUP_MS = 1600


def content_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ChangeFeed:
    """Puts a file's path on `changes` each time its content differs from the last seen."""

    def __init__(self, files: Iterable[Path], *, quiet_ms: int):
        self.files = {str(p.resolve()): p.resolve() for p in files}
        self.quiet_ms = quiet_ms
        self.changes: queue.Queue[Path] = queue.Queue()
        self.saved_at: dict[Path, float] = {}  # the file's mtime when its change was noted
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._seen = {p: content_hash(p) for p in self.files.values()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redraft-watch", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start watching; return once the watcher runs (so no later save can be missed)."""
        self._thread.start()
        self.ready.wait(timeout)
        if self.failed is not None:
            raise self.failed
        # A save between reading the files and the watcher's start would be lost otherwise.
        self.rescan()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def rescan(self) -> None:
        for path in self.files.values():
            self._note(path)

    def _note(self, path: Path) -> None:
        digest = content_hash(path)
        if digest is not None and digest != self._seen.get(path):
            self._seen[path] = digest
            try:
                self.saved_at[path] = path.stat().st_mtime
            except OSError:
                self.saved_at.pop(path, None)
            self.changes.put(path)

    def _run(self) -> None:
        import watchfiles

        folders = sorted({os.path.dirname(p) for p in self.files})
        try:
            for batch in watchfiles.watch(
                *folders,
                watch_filter=lambda _change, path: path in self.files,
                step=self.quiet_ms,
                debounce=max(_LONGEST_GROUP_MS, 4 * self.quiet_ms),
                stop_event=self._stop,
                rust_timeout=_RUST_TIMEOUT_MS,
                yield_on_timeout=True,
                recursive=False,
                raise_interrupt=False,
            ):
                self.ready.set()
                for _change, name in batch:
                    self._note(self.files[name])
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.failed = exc
        finally:
            self.ready.set()
