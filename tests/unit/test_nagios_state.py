"""status.dat / retention.dat blocks as control commands (vigie/nagios/state.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.nagios.state import StateFileError, commands, read_blocks
from vigie.pipelines.correlate.silences import parse_command
from vigie.pipelines.fingerprints import check_fingerprint
from vigie.schemas.validate import validate

NOW = 1_800_000_000
STATUS = f"""# NAGIOS STATE RETENTION FILE
info {{
\tcreated={NOW}
\t}}

servicestatus {{
\thost_name=db1
\tservice_description=Disk /var
\tproblem_has_been_acknowledged=1
\t}}

hoststatus {{
\thost_name=web1
\tproblem_has_been_acknowledged=0
\t}}

servicecomment {{
\thost_name=db1
\tservice_description=Disk /var
\tentry_type=4
\tentry_time={NOW - 60}
\tauthor=bob
\tcomment_data=disk=ordered
\t}}

hostcomment {{
\thost_name=web1
\tcomment_id=12
\tentry_type=1
\tentry_time={NOW - 30}
\tauthor=dave
\tcomment_data=fibre work planned by the telco
\t}}

hostdowntime {{
\thost_name=web2
\tdowntime_id=7
\tstart_time={NOW - 10}
\tend_time={NOW + 3600}
\tfixed=1
\tauthor=carol
\tcomment=kernel
\t}}

hostdowntime {{
\thost_name=web3
\tdowntime_id=8
\tstart_time={NOW - 7200}
\tend_time={NOW - 3600}
\tfixed=1
\t}}
"""


def test_acknowledgements_and_downtimes_become_valid_control_commands(tmp_path: Path) -> None:
    (tmp_path / "status.dat").write_text(STATUS)
    values, notes = commands(read_blocks(tmp_path / "status.dat"), NOW)
    assert [(v["kind"], v["id"]) for v in values] == [("comment", "nagios-comment-12"),
                                                      ("acknowledge", "nagios-ack-db1-Disk_/var"),
                                                      ("maintenance", "nagios-downtime-7")]
    comment, ack, maintenance = values
    assert (comment["author"], comment["text"], comment["target"]) == ("dave", "fibre work planned by the telco",
                                                                       check_fingerprint("web1", None))
    assert (ack["author"], ack["reason"]) == ("bob", "disk=ordered")  # '=' inside a value is kept
    assert ack["matchers"] == ["host=db1", {"name": "service", "op": "=", "value": "Disk /var"}]
    assert (maintenance["hosts"], maintenance["end"]) == (["web2"], "2027-01-15T09:00:00Z")
    assert notes == ["downtime 8 on web3: ended at 2027-01-15T07:00:00Z"]
    for value in values:
        parse_command(value, now=NOW)
        validate(value)


def test_an_unclosed_block_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "retention.dat").write_text("host {\n\thost_name=a\n")
    with pytest.raises(StateFileError, match=r"retention.dat: last block not closed"):
        read_blocks(tmp_path / "retention.dat")


def test_the_state_files_fingerprint_is_correlates() -> None:
    from vigie.nagios import state

    for host, service in (("db1", "Disk /var"), ("web1", None)):
        assert state.check_fingerprint(host, service) == check_fingerprint(host, service)
