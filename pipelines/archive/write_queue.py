"""The sink's sealed files waiting for a writer thread: any writer takes any partition's next file,
but never two files of one partition at once, so each partition's files still appear in offset order.

Why not one queue per writer, a partition pinned to one of them: with few partitions the pinning is
uneven (three partitions on two writers, or all on one), and at the end of a burst the last files
of a partition wait behind another's while a writer idles.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class WriteQueue(Generic[T]):
    """FIFO per key; get() hands out the oldest file of a key that no writer holds; bounded in all."""

    def __init__(self, max_pending: int) -> None:
        self._cond = threading.Condition()
        self._files: dict[Hashable, deque[T]] = {}  # per key, in the order put
        self._ready: deque[Hashable] = deque()  # keys with files waiting and none being written
        self._busy: set[Hashable] = set()  # keys one of whose files a writer holds
        self._count = 0  # files waiting or being written
        self._max = max(1, max_pending)
        self._closed = False

    def put(self, key: Hashable, item: T, timeout: float | None = None) -> bool:
        """Queue item after the key's earlier ones; False when still full after timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._count < self._max or self._closed, timeout):
                return False
            if self._closed:
                raise RuntimeError("write queue closed")
            files = self._files.setdefault(key, deque())
            files.append(item)
            self._count += 1
            if len(files) == 1 and key not in self._busy:
                self._ready.append(key)
            self._cond.notify_all()
            return True

    def get(self) -> tuple[Hashable, T] | None:
        """The next file to write (its key is then held until done(key)); None once closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._ready or (self._closed and self._count == 0))
            if not self._ready:
                return None
            key = self._ready.popleft()
            files = self._files[key]
            item = files.popleft()
            if not files:
                del self._files[key]
            self._busy.add(key)
            return key, item

    def done(self, key: Hashable) -> None:
        """The writer finished (or gave up on) the file it got for key: the key's next file may go."""
        with self._cond:
            self._busy.discard(key)
            self._count -= 1
            if key in self._files:
                self._ready.append(key)
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every file put has been written; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)

    def close(self) -> None:
        """No more puts; get() returns None to each writer once the files already queued are handed out."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return self._count
