"""The Archive page: the form checked like `vigie archive query`, answers paged from memory, downloads, audit
records naming the console user (and a refusal when they cannot be written), auditors alone."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.console_support import csrf_of, login, make_console, origin, serve
from vigie.config import validate
from vigie.console.pages.archive import (
    MAX_ROWS,
    Answer,
    Answers,
    FormError,
    csv_bytes,
    local_time,
    page_of,
    parse_form,
    shown_columns,
)
from vigie.pipelines.archive.audit import read_log
from vigie.pipelines.archive.manifest import Manifest, file_entry
from vigie.pipelines.archive.writer import FileName, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA

PARIS = ZoneInfo("Europe/Paris")
HOUR = datetime(2024, 5, 1, 8, tzinfo=UTC)  # 10:00 in Paris
TOPIC = "vigie.raw.syslog"


def connection_rows(hour: datetime, n: int, first: int = 0) -> pa.Table:
    """n connection logs 30 s apart; the third one's user holds a formula and a newline."""
    data: dict[str, list] = {name: [None] * n for name in ARCHIVE_SCHEMA.names}
    data["received_at"] = [hour + timedelta(seconds=30 * i) for i in range(n)]
    data["raw"] = [f"<134>fw01 conn {first + i}".encode() for i in range(n)]
    data["topic"] = [TOPIC] * n
    data["partition"] = [0] * n
    data["offset"] = list(range(first, first + n))
    data["hostname"] = ["fw01"] * n
    data["src_ip"] = [f"10.0.0.{1 + i % 5}" for i in range(n)]
    data["src_port"] = [50000 + i for i in range(n)]
    data["dst_ip"] = ["93.184.216.34"] * n
    data["dst_port"] = [443] * n
    data["user"] = ["=cmd()\nforged" if i == 2 else "alice" for i in range(n)]
    return pa.table(data, schema=ARCHIVE_SCHEMA)


def small_archive(root: Path, n: int = 250, hour: datetime = HOUR) -> Path:
    """An archive as the sink writes it (Parquet files, manifest chain): n rows in one hour, two files."""
    rows, half = connection_rows(hour, n), n // 2
    with Manifest(root) as m:
        for first, count in ((0, half), (half, n - half)):
            written = write_file(root, rows.slice(first, count), FileName(TOPIC, 0, first, first + count - 1), hour)
            m.append(file_entry(written))
    return root


def test_times_are_read_in_the_consoles_zone_and_offsets_are_kept() -> None:
    assert local_time("2024-05-01T10:00", PARIS, "from") == HOUR
    assert local_time("2024-05-01T10:00:30", PARIS, "from") == HOUR + timedelta(seconds=30)
    assert local_time("2024-05-01T08:00Z", PARIS, "from") == HOUR
    assert local_time("2024-05-01", PARIS, "from") == datetime(2024, 4, 30, 22, tzinfo=UTC)
    with pytest.raises(FormError, match="from: 'yesterday' is not a time"):
        local_time("yesterday", PARIS, "from")


@pytest.mark.parametrize(("given", "says"), [
    ({"ip": "10.0.0.300"}, "ip: '10.0.0.300' is not an IP address"),
    ({"dst_ip": "alice"}, "dst_ip: 'alice' is not an IP address"),
    ({"from": "2024-05-01T12:00"}, "to must be after from"),
    ({"limit": "-5"}, "limit: -5 is not a positive count of rows"),
    ({"limit": "ten"}, "limit: 'ten' is not a whole number"),
    ({"port": "70000"}, "port: 70000 is not a port (0-65535)"),
    ({"to": ""}, "to: a time is required"),
])
def test_bad_questions_are_one_line(given: dict[str, str], says: str) -> None:
    form = {"from": "2024-05-01T10:00", "to": "2024-05-01T11:00", **given}
    with pytest.raises(FormError) as caught:
        parse_form(form, PARIS)
    assert str(caught.value) == says


def test_a_question_carries_every_filter_and_the_consoles_row_cap() -> None:
    spec, unlisted = parse_form({"from": "2024-05-01T10:00", "to": "2024-05-01T11:00", "ip": " 10.0.0.1 ", "port": "443",
                                 "user": "alice", "host": "fw01", "include_unlisted": "1"}, PARIS)
    assert (spec.start, spec.end, spec.ip, spec.port, spec.user, spec.host) == (
        HOUR, HOUR + timedelta(hours=1), "10.0.0.1", 443, "alice", "fw01")
    assert spec.limit == MAX_ROWS and unlisted
    assert parse_form({"from": "2024-05-01", "to": "2024-05-02", "limit": "7"}, PARIS)[0].limit == 7
    assert parse_form({"from": "2024-05-01", "to": "2024-05-02", "limit": str(10 * MAX_ROWS)}, PARIS)[0].limit == MAX_ROWS


def test_pages_are_slices_of_the_answer_and_clamped() -> None:
    table = connection_rows(HOUR, 250)
    rows, page, pages = page_of(table, 1)
    assert (len(rows), page, pages) == (100, 1, 3)
    assert rows[0]["src_port"] == "50000" and rows[0]["received_at"] == "2024-05-01T08:00:00.000000Z"
    rows, page, pages = page_of(table, 3)
    assert (len(rows), page, rows[-1]["src_port"]) == (50, 3, "50249")
    assert page_of(table, 99)[1] == 3 and page_of(table, -4)[1] == 1
    assert page_of(table.slice(0, 0), 1) == ([], 1, 1)
    assert shown_columns(table) == ["hostname", "src_ip", "src_port", "dst_ip", "dst_port", "user"]


def test_csv_is_the_clis_csv_with_safe_cells() -> None:
    rows = list(csv.reader(io.StringIO(csv_bytes(connection_rows(HOUR, 3)).decode())))
    assert rows[0] == list(ARCHIVE_SCHEMA.names) and len(rows) == 4
    assert rows[3][rows[0].index("user")] == "'=cmd()\\nforged"


def test_answers_are_only_given_to_who_asked_and_expire() -> None:
    answers = Answers(capacity=2, lifetime=60)
    made = [Answer("auditor", None, {}, {}, 0, "", 100.0) for _ in range(3)]
    keys = [answers.put(a) for a in made]
    assert answers.get(keys[0], "auditor", 101) is None  # dropped: capacity 2
    assert answers.get(keys[1], "someone else", 101) is None
    assert answers.get(keys[1], "auditor", 101) is made[1]
    assert answers.get(keys[2], "auditor", 161) is None


def run(coro):
    return asyncio.run(coro)


def console_with_archive(tmp_path: Path):
    root = small_archive(tmp_path / "archive")
    cfg = validate({"state_dir": str(tmp_path), "archive": {"root": str(root)}})
    return make_console(tmp_path, cfg=cfg), root


QUESTION = {"from": "2024-05-01T10:00", "to": "2024-05-01T12:30", "ip": "10.0.0.1"}


async def ask(client, **form: str):
    token = await csrf_of(client, "/archive")
    return await client.post("/archive", data={"csrf": token, **QUESTION, **form}, headers=origin(client))


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_only_auditors_reach_the_archive(tmp_path: Path, role: str) -> None:
    console, root = console_with_archive(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, role)
            for path in ("/archive", "/archive/answers/x", "/archive/answers/x/rows.csv"):
                assert (await client.get(path)).status == 403, path
            token = await csrf_of(client, "/problems")
            refused = await client.post("/archive", data={"csrf": token, **QUESTION}, headers=origin(client))
            assert refused.status == 403
            assert 'href="/archive"' not in await (await client.get("/problems")).text()

    run(go())
    assert not (root / "audit.jsonl").exists()


def test_an_auditors_query_is_paged_downloaded_and_every_access_recorded(tmp_path: Path) -> None:
    console, root = console_with_archive(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, "auditor")
            assert 'href="/archive"' in await (await client.get("/problems")).text()
            page = await ask(client, ip="")
            text = await page.text()
            assert page.status == 200 and "250 rows" in text and "Page 1 of 3" in text
            assert "2024-05-01 10:00:00" in text  # received_at in Paris time
            answer = re.search(r'href="/archive/answers/([^/"?]+)\?page=2"', text).group(1)
            second = await (await client.get(f"/archive/answers/{answer}?page=2")).text()
            assert "Page 2 of 3" in second and "50100" in second and "50099" not in second
            got = await client.get(f"/archive/answers/{answer}/rows.csv")
            assert got.status == 200 and "attachment" in got.headers["Content-Disposition"]
            assert len(list(csv.reader(io.StringIO(await got.text())))) == 251
            parquet = await client.get(f"/archive/answers/{answer}/rows.parquet")
            assert pq.read_table(io.BytesIO(await parquet.read())).num_rows == 250
            return answer

    run(go())
    records = list(read_log(root))
    assert [(r["action"], r["user"], r["via"], r["rows"]) for r in records] == [
        ("query", "auditor", "console", 250), ("download", "auditor", "console", 250),
        ("download", "auditor", "console", 250)]
    assert records[0]["question"]["from"] == "2024-05-01T08:00:00.000000Z" and records[0]["question"]["limit"] == MAX_ROWS
    assert [r["question"].get("format") for r in records] == [None, "csv", "parquet"]
    assert [a["schema"] for a in console.writer.audits if a["schema"] == "archive-audit/1"] == ["archive-audit/1"] * 3


def test_a_filtered_query_and_bad_input_give_the_form_back(tmp_path: Path) -> None:
    console, root = console_with_archive(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, "auditor")
            text = await (await ask(client)).text()
            assert "50 rows" in text and "Page 1 of 1" not in text
            for bad, says in ((dict(ip="10.0.0.300"), "is not an IP address"),
                              (dict(limit="-1"), "is not a positive count"),
                              (dict(to="2024-05-01T09:00"), "to must be after from")):
                page = await ask(client, **bad)
                assert page.status == 400 and says in await page.text()

    run(go())
    assert [r["rows"] for r in read_log(root)] == [50]


def test_a_query_is_refused_when_the_audit_log_cannot_be_written(tmp_path: Path) -> None:
    console, root = console_with_archive(tmp_path)
    (root / "audit.jsonl").mkdir()  # cannot be opened as a file, whoever runs the test

    async def go():
        async with serve(console) as client:
            await login(client, "auditor")
            page = await ask(client)
            text = await page.text()
            assert page.status == 503 and "Refused: the access could not be recorded" in text
            assert "rows</h2>" not in text

    run(go())


def test_verify_runs_on_demand_and_its_result_is_kept(tmp_path: Path) -> None:
    console, root = console_with_archive(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, "auditor")
            first = await (await client.get("/archive")).text()
            assert "never run from the console" in first and "links intact" in first
            token = await csrf_of(client, "/archive")
            done = await (await client.post("/archive/verify", data={"csrf": token}, headers=origin(client))).text()
            assert "OK" in done and "2 files hashed" in done
            victim = next((root / "connlog").rglob("*.parquet"))
            victim.write_bytes(victim.read_bytes() + b"x")
            failed = await (await client.post("/archive/verify", data={"csrf": token}, headers=origin(client))).text()
            assert "FAILED" in failed and "altered" in failed

    run(go())
    kept = json.loads((tmp_path / "console" / "archive-verify.json").read_text())
    assert kept["ok"] is False and kept["user"] == "auditor"
    assert [(a["action"], a["outcome"]) for a in console.writer.audits if a["action"] == "archive verify"] == [
        ("archive verify", "ok"), ("archive verify", "failed")]


def messages_of(pages: tuple[str, ...], templates: tuple[str, ...]) -> set[str]:
    """The English messages of some page modules (gettext calls, nav and table labels) and templates."""
    import ast

    import vigie.console

    base = Path(vigie.console.__file__).parent
    found: set[str] = set()
    for name in templates:
        text = (base / "templates" / name).read_text()
        found.update(m.group(1) for m in re.finditer(r'_\("((?:[^"\\]|\\.)*)"', text))
    for name in pages:
        for node in ast.walk(ast.parse((base / "pages" / f"{name}.py").read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if called == "gettext" and isinstance(node.args[0], ast.Constant):
                    found.add(node.args[0].value)
                elif called == "NavItem":
                    found.add(node.args[1].value)
            elif isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("INTAKE", "DEAD_LETTERS"):
                found.update(row.elts[0].value for row in node.value.elts)
    return found


def test_every_message_of_the_archive_health_and_users_pages_is_in_french() -> None:
    from vigie.console.i18n import catalogue

    french = catalogue("fr")
    messages = messages_of(("archive", "health", "users"),
                           ("archive.html", "archive_pager.html", "health.html", "users.html"))
    assert {"Archive", "Health", "Users", "SNMP traps", "A verify is already running."} <= messages
    assert sorted(m for m in messages if m not in french) == []
