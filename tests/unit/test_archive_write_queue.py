"""The sink's write queue: per-partition order, no two files of one partition at once, bounded, closable."""

from __future__ import annotations

import threading
import time

import pytest

from vigie.pipelines.archive.write_queue import WriteQueue


def test_a_key_is_held_while_its_file_is_written_and_other_keys_go_meanwhile() -> None:
    q: WriteQueue[str] = WriteQueue(10)
    for key, item in [("p0", "a"), ("p0", "b"), ("p1", "c"), ("p2", "d")]:
        assert q.put(key, item)
    assert q.get() == ("p0", "a")
    # p0's next file waits for "a" to be done; the other partitions' files go to other writers
    assert q.get() == ("p1", "c")
    assert q.get() == ("p2", "d")
    got: list[tuple[str, str] | None] = []
    waiter = threading.Thread(target=lambda: got.append(q.get()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got, "p0's second file is not handed out while its first is written"
    q.done("p0")
    waiter.join(5)
    assert got == [("p0", "b")]
    for key in ("p1", "p2", "p0"):
        q.done(key)
    assert len(q) == 0 and q.join(0)


def test_every_file_of_a_partition_is_written_in_order_by_several_writers() -> None:
    q: WriteQueue[int] = WriteQueue(8)
    written: dict[str, list[int]] = {}
    in_flight: set[str] = set()
    overlap: list[str] = []
    lock = threading.Lock()

    def writer() -> None:
        while (job := q.get()) is not None:
            key, item = job
            with lock:
                if key in in_flight:
                    overlap.append(key)
                in_flight.add(key)
            time.sleep(0.001)
            with lock:
                in_flight.discard(key)
                written.setdefault(key, []).append(item)
            q.done(key)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        assert q.put(f"p{i % 4}", i, timeout=10)
    assert q.join(10)
    q.close()
    for t in threads:
        t.join(10)
    assert not overlap
    assert written == {f"p{k}": list(range(k, 60, 4)) for k in range(4)}


def test_put_blocks_when_full_until_a_file_is_done() -> None:
    q: WriteQueue[str] = WriteQueue(2)
    assert q.put("p0", "a") and q.put("p1", "b")
    assert not q.put("p2", "c", timeout=0.05), "full: files waiting or being written count"
    key, _ = q.get()  # type: ignore[misc]
    assert not q.put("p2", "c", timeout=0.05), "a file being written still counts"
    q.done(key)
    assert q.put("p2", "c", timeout=1)


def test_close_lets_writers_finish_what_is_queued_then_stop() -> None:
    q: WriteQueue[str] = WriteQueue(4)
    q.put("p0", "a")
    q.put("p0", "b")
    q.close()
    with pytest.raises(RuntimeError, match="closed"):
        q.put("p1", "c")
    assert q.get() == ("p0", "a")
    q.done("p0")
    assert q.get() == ("p0", "b")
    q.done("p0")
    assert q.get() is None
