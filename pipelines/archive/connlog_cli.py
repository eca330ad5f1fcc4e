"""`vigie parse connlog`: raw syslog lines on stdin, one JSON object of connection columns per line on stdout."""

from __future__ import annotations

from typing import BinaryIO, TextIO

from vigie.pipelines.archive.connlog import empty_connection, extract_connection
from vigie.schemas.codec import dumps


def run(stdin: BinaryIO, stdout: TextIO) -> int:
    """Parse every line (UTF-8, bad bytes replaced); non-connection lines give all-null objects."""
    for raw in stdin:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        row = extract_connection(line) or empty_connection()
        stdout.write(dumps(row).decode("utf-8"))
        stdout.write("\n")
    stdout.flush()
    return 0
