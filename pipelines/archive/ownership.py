"""Which sink process may write a partition's files: one exclusive lock per partition, shared by every process on the archive.

Kafka's group protocol says who *should* consume a partition, but a member that stalls (a slow
disk, a paused VM) can still be writing after the group gave the partition to another member. Two
writers of one partition would archive the same offsets twice. So a sink writes a partition's
files only while it holds the partition's lock (an flock on <root>/.locks/<topic>+<partition>.lock),
takes it before reading where the partition resumes, and gives it back only once its last file for
that partition is on disk. The kernel drops the lock of a process that dies, so a SIGKILLed sink
never blocks the next one. The archive root must be a local file system (flock over NFS is not
reliable).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from vigie.pipelines.archive.writer import TMP_SUFFIX, iter_hour_dirs

LOCK_DIR = ".locks"

Key = tuple[str, int]  # (topic, partition)


class PartitionLocks:
    """The partition locks this process holds; try_acquire never blocks, release_all at exit."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / LOCK_DIR
        self._fds: dict[Key, int] = {}

    def path(self, key: Key) -> Path:
        return self.dir / f"{key[0]}+{key[1]}.lock"

    def try_acquire(self, key: Key) -> bool:
        """Take the partition's lock if no other process holds it (True also when this one already does)."""
        if key in self._fds:
            return True
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fds[key] = fd
        return True

    def held(self, key: Key) -> bool:
        return key in self._fds

    def release(self, key: Key) -> None:
        fd = self._fds.pop(key, None)
        if fd is not None:
            os.close(fd)  # closing the only descriptor of the open file drops the flock

    def release_all(self) -> None:
        for key in list(self._fds):
            self.release(key)

    def keys(self) -> set[Key]:
        return set(self._fds)


def remove_partition_temporaries(root: Path, keys: set[Key]) -> list[str]:
    """Delete the half-written files a crash left for these partitions (only theirs: another live
    process may be writing its own partitions' temporaries right now). Never visible, so nothing is lost."""
    prefixes = tuple(f".{topic}+{partition}+" for topic, partition in keys)
    removed = []
    if not prefixes:
        return removed
    for _, hdir in iter_hour_dirs(root):
        with os.scandir(hdir) as it:
            for entry in it:
                if entry.name.startswith(prefixes) and entry.name.endswith(TMP_SUFFIX):
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    removed.append(Path(entry.path).relative_to(root).as_posix())
    return removed
