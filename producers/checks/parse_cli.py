"""`vigie parse check`: Nagios plugin output on stdin to one JSON object on stdout, for trying parsers by hand."""

from __future__ import annotations

from typing import TextIO

from vigie.producers.checks.plugin_output import STATUS_NAMES, parse_plugin_output
from vigie.schemas.codec import dumps


def run(stdin: TextIO, stdout: TextIO, status: int | None) -> int:
    """Print {status, output, long_output, perfdata, errors}; exit 2 when --status is not 0..3, else 0."""
    # Read bytes when we can: plugin output is not always valid UTF-8, and the parser reports that itself.
    buffer = getattr(stdin, "buffer", None)
    parsed = parse_plugin_output(buffer.read() if buffer is not None else stdin.read())
    code = 0
    if status is not None and (isinstance(status, bool) or status not in STATUS_NAMES):
        parsed["errors"].insert(
            0, f"--status {status} is not 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN)"
        )
        status, code = None, 2
    result = {"status": status, **parsed}
    stdout.write(dumps(result).decode("utf-8") + "\n")
    stdout.flush()
    return code
