"""Integrity of the archive: foreign files quarantined (never adopted), the chain head and its anchors."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from tests.unit.test_archive_store import TOPIC, archive_file, rows
from vigie.app import archive_cli as cli
from vigie.pipelines.archive.manifest import GENESIS, Manifest, load_state, reconcile, verify
from vigie.pipelines.archive.writer import FileName, write_file

HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)


def forged(root: Path, partition: int = 0, first: int = 999_999_999, last: int = 999_999_999) -> str:
    """A valid Parquet file with a valid-looking name, dropped into an hour folder by someone else."""
    name = FileName(TOPIC, partition, first, last)
    written = write_file(root, rows(HOUR, 3, first, partition=partition), name, HOUR)  # no intent: not the sink
    return written.path


def test_a_forged_file_is_quarantined_not_registered_and_does_not_move_the_resume_point(tmp_path: Path) -> None:
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0)
        path = forged(root)
        added = reconcile(root, m, {(TOPIC, 0)})
    assert added == []
    assert not (root / path).exists()
    assert (root / "quarantine" / path).exists(), "moved, keeping its relative path"
    assert load_state(root).next_offsets == {(TOPIC, 0): 10}, "the resume point ignores the forged name"
    report = verify(root)
    assert report.ok and report.quarantined == [f"quarantine/{path}"]
    out = io.StringIO()
    assert cli.verify_main(argparse.Namespace(root=str(root), quiet=False), out) == 0
    assert "1 quarantined" in out.getvalue()
    assert f"quarantined: quarantine/{path}" in out.getvalue()


def test_a_file_altered_after_its_intent_is_quarantined(tmp_path: Path) -> None:
    """The intent names the SHA-256: a file put in place of the sink's own (same name) is not adopted."""
    root = tmp_path / "a"
    name = FileName(TOPIC, 0, 0, 9)
    with Manifest(root) as m:
        written = write_file(root, rows(HOUR, 10, 0), name, HOUR, before_rename=m.intent_recorder(name))
        write_file(root, rows(HOUR, 10, 100), name, HOUR)  # replaced under the same name
        assert reconcile(root, m) == []
    assert (root / "quarantine" / written.path).exists()
    assert load_state(root).next_offsets == {}


def test_files_named_as_no_sink_names_them_are_quarantined_whatever_the_partitions(tmp_path: Path) -> None:
    root = tmp_path / "a"
    with Manifest(root) as m:
        rel = archive_file(root, m, HOUR, 0)
        odd = (root / rel).parent / "evil.parquet"
        odd.write_bytes(b"PAR1")
        tmp = (root / rel).parent / f".{TOPIC}+1+0+9.parquet.42.tmp"  # another process mid-write: left alone
        tmp.write_bytes(b"half")
        reconcile(root, m, {(TOPIC, 1)})
    assert not odd.exists() and tmp.exists()
    assert verify(root).quarantined == [f"quarantine/{Path(rel).parent.as_posix()}/evil.parquet"]


def test_verify_prints_the_head_and_expect_head_accepts_an_extended_chain(tmp_path: Path) -> None:
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0)
        seq, anchor = m.head()
        archive_file(root, m, HOUR, 10)
        head = m.head()
    assert seq == 1 and anchor != GENESIS
    out = io.StringIO()
    assert cli.verify_main(argparse.Namespace(root=str(root), quiet=False, expect_head=anchor), out) == 0
    assert f"head: seq 2 {head[1]}" in out.getvalue()


def test_expect_head_detects_a_removed_tail(tmp_path: Path) -> None:
    """The last entry and its file removed: the chain verifies, but it no longer extends the head kept outside."""
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0)
        last = archive_file(root, m, HOUR, 10)
        _, head = m.head()
    (root / last).unlink()
    lines = (root / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (root / "manifest.jsonl").write_bytes(b"".join(lines[:-1]))
    assert verify(root).ok, "a removed tail leaves a valid chain"
    out = io.StringIO()
    assert cli.verify_main(argparse.Namespace(root=str(root), quiet=True, expect_head=head), out) == 1
    assert out.getvalue().count("\n") == 1 and "does not extend" in out.getvalue()


def test_expect_head_detects_a_rewritten_and_rechained_manifest(tmp_path: Path) -> None:
    """A row count changed and every hash recomputed: the chain is valid again, the anchored head is gone."""
    from vigie.pipelines.archive.manifest import canonical, entry_hash

    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0)
        archive_file(root, m, HOUR, 10)
        _, head = m.head()
    prev, out_lines = GENESIS, []
    for line in (root / "manifest.jsonl").read_bytes().splitlines():
        e = json.loads(line)
        e["at"] = "2024-05-01T00:00:00.000000Z"
        e["prev"] = prev
        e["hash"] = entry_hash(e)
        prev = e["hash"]
        out_lines.append(canonical(e) + b"\n")
    (root / "manifest.jsonl").write_bytes(b"".join(out_lines))
    assert verify(root).ok, "a rechained manifest verifies"
    out = io.StringIO()
    assert cli.verify_main(argparse.Namespace(root=str(root), quiet=True, expect_head=head), out) == 1
    assert "does not extend" in out.getvalue()


def test_published_heads_must_be_links_of_the_chain_in_order() -> None:
    from vigie.pipelines.archive.anchor import PublishedHead, topic_findings

    hashes = {"a" * 64: 1, "b" * 64: 2, "c" * 64: 3}
    good = [PublishedHead("/r", "p1", 1, "a" * 64), PublishedHead("/r", "p1", 3, "c" * 64)]
    assert topic_findings(hashes, good) == (2, [])
    n, findings = topic_findings(hashes, [*good, PublishedHead("/r", "p1", 4, "d" * 64)])
    assert n == 3 and findings == [f"published head seq 4 {'d' * 16}… is not in the chain"]
    _, findings = topic_findings(hashes, [PublishedHead("/r", "p1", 2, "a" * 64)])
    assert findings == [f"published head {'a' * 16}… was seq 2, the chain has it at seq 1"]
    _, findings = topic_findings(hashes, [good[1], good[0]])
    assert findings == ["published heads of p1 go back from seq 3 to 1"]


class _Producer:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: object = None) -> None:
        self.records.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_the_sink_publishes_each_new_head_once_and_to_syslog_once_per_interval(tmp_path: Path) -> None:
    import socket

    from vigie.pipelines.archive.anchor import HeadPublisher, parse_head

    sock_path = str(tmp_path / "log")
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(sock_path)
    syslog.settimeout(2)
    now = [0.0]
    producer = _Producer()
    pub = HeadPublisher(tmp_path, "vigie.archive.heads", producer, 86400, sock_path, clock=lambda: now[0])
    try:
        pub.publish(1, "a" * 64)
        pub.publish(1, "a" * 64)  # unchanged: not again
        now[0] = 3600
        pub.publish(2, "b" * 64)
        now[0] = 86400
        pub.publish(3, "c" * 64)
        heads = [parse_head(v) for _, _, v in producer.records]
        assert [(h.seq, h.hash[0]) for h in heads if h] == [(1, "a"), (2, "b"), (3, "c")]
        assert len({k for _, k, _ in producer.records}) == 3, "a key per head: compaction keeps them all"
        lines = [syslog.recv(4096).decode() for _ in range(2)]
        assert "seq=1 hash=" + "a" * 64 in lines[0] and "seq=3 hash=" + "c" * 64 in lines[1]
    finally:
        syslog.close()


def test_chain_head_says_whether_every_link_holds(tmp_path: Path) -> None:
    from vigie.pipelines.archive.manifest import chain_head

    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0)
        archive_file(root, m, HOUR, 10)
        seq, head = m.head()
    assert chain_head(root) == (seq, head, True)
    text = (root / "manifest.jsonl").read_text()
    (root / "manifest.jsonl").write_text(text.replace('"rows":10', '"rows":11', 1))
    assert chain_head(root) == (seq, head, False)
