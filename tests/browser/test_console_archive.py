"""Archive, Health and Users in the real browser, against a real `vigie up` with its metrics on and an archive
written by the archive's own writer: an auditor queries, pages and downloads the CSV (recorded in the audit
log with the console user), a viewer gets a 403 and no Archive link, Health shows the services, an admin
adds a user. Screenshots at desktop and phone width."""

from __future__ import annotations

import csv
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import PHONE, ConsoleUp, add_users, console_config, needs_chromium
from tests.integration.test_up_ready import Up
from tests.snmp_datagrams import sample_trap
from tests.unit.test_console_archive import small_archive
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.peer, needs_chromium, pytest.mark.timeout(300)]
ROWS = 250  # 2024-05-01 10:00 to 12:05 in Paris, 30 s apart: three pages of 100


@pytest.fixture(scope="module")
def console_up(broker: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleUp]:
    """`vigie up` as conftest's, with [metrics] on (the Health page reads them) and an archive to query."""
    tmp = tmp_path_factory.mktemp("console-archive")
    port, snmp_port, metrics_port = free_port(), free_port(), free_port()
    prefix = f"console-{uuid.uuid4().hex[:6]}."
    conf = console_config(tmp, broker, prefix, port, snmp_port)
    conf.write_text(conf.read_text().replace("[metrics]\nenabled = false\n",
                                             f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{metrics_port}"\n'))
    small_archive(tmp / "state" / "archive", ROWS)
    add_users(conf)
    up = Up(conf, env=dict(os.environ))
    up.wait_line("ready", 120)
    running = ConsoleUp(f"http://127.0.0.1:{port}", conf, prefix, broker, snmp_port,
                        tmp / "state", up)
    try:
        yield running
    finally:
        assert running.up.stop() == 0, "\n".join(running.up.lines[-30:])


def wait(driver, seconds: float = 20) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def ask(driver, base: str, **fields: str) -> None:
    driver.get(base + "/archive")
    for name, value in {"from": "2024-05-01T10:00", "to": "2024-05-01T12:30", **fields}.items():
        field = driver.find_element(By.NAME, name)
        driver.execute_script("arguments[0].value = arguments[1]", field, value)
    driver.find_element(By.ID, "run-query").click()
    wait(driver).until(ec.presence_of_element_located((By.ID, "answer-count")))


def downloaded(folder: Path, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("*.csv") if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no CSV downloaded into {folder}: {list(folder.iterdir())}")


def test_an_auditor_queries_pages_and_downloads_the_csv_and_it_is_recorded(console_up, browser, shoot, tmp_path) -> None:
    driver = browser("auditor")
    folder = tmp_path / "downloads"
    folder.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    assert driver.find_element(By.CSS_SELECTOR, 'header.top nav a[href="/archive"]')
    ask(driver, console_up.base)
    assert driver.find_element(By.ID, "answer-count").text == f"{ROWS} rows"
    assert "links intact" in driver.find_element(By.ID, "chain-head").text
    first = driver.find_elements(By.CSS_SELECTOR, "#archive-rows tbody tr")
    assert len(first) == 100 and first[0].find_element(By.TAG_NAME, "td").text == "2024-05-01 10:00:00"
    driver.execute_script("document.getElementById('answer-count').scrollIntoView()")
    shoot(driver, "archive-answer")
    for page in (2, 3):
        driver.find_element(By.CSS_SELECTOR, "nav.pager a[rel=next]").click()
        wait(driver).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".page-of"), f"Page {page} of 3"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "#archive-rows tbody tr")) == ROWS - 200
    driver.find_element(By.ID, "download-csv").click()
    rows = list(csv.reader(downloaded(folder).open(newline="")))
    assert len(rows) == ROWS + 1 and rows[0][0] == "received_at"
    assert "'=cmd()\\nforged" in rows[3]  # the CLI's escaping: no formula, no forged row
    driver.find_element(By.ID, "verify").click()
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "last-verify"), "2 files hashed"))
    assert "OK" in driver.find_element(By.ID, "last-verify").text
    shoot(driver, "archive")
    records = [json.loads(line) for line in (console_up.state_dir / "archive" / "audit.jsonl").read_text().splitlines()]
    assert [(r["action"], r["user"], r["via"], r["rows"]) for r in records] == [
        ("query", "auditor", "console", ROWS), ("download", "auditor", "console", ROWS)]
    phone = browser("auditor", size=PHONE)
    ask(phone, console_up.base, ip="10.0.0.1")
    assert phone.find_element(By.ID, "answer-count").text == f"{ROWS // 5} rows"
    phone.execute_script("document.getElementById('answer-count').scrollIntoView()")
    shoot(phone, "archive-phone")


def test_a_viewer_gets_a_403_on_the_archive_and_no_link_to_it(console_up, browser) -> None:
    driver = browser("viewer")
    assert not driver.find_elements(By.CSS_SELECTOR, 'header.top a[href="/archive"]')
    assert not driver.find_elements(By.CSS_SELECTOR, 'header.top a[href="/users"]')
    driver.get(console_up.base + "/archive")
    assert driver.find_element(By.CSS_SELECTOR, ".error-page h1").text == "403"
    assert not driver.find_elements(By.ID, "run-query")


def test_health_shows_the_services_of_vigie_up(console_up, browser, shoot) -> None:
    driver = browser("viewer")
    driver.get(console_up.base + "/health")
    services = {row.get_attribute("data-service") for row in driver.find_elements(By.CSS_SELECTOR, "#services tr[data-service]")}
    assert {"snmp-traps", "pipelines", "console"} <= services, services
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(3):
            udp.sendto(sample_trap(i + 1), ("127.0.0.1", console_up.snmp_port))
    # The page reloads itself: the traps reach its intake table, the pipelines' groups its lag table.
    wait(driver, 30).until(ec.text_to_be_present_in_element((By.ID, "intake"), "SNMP traps"))
    wait(driver, 30).until(lambda d: "3" in d.find_element(By.XPATH, '//table[@id="intake"]//tr[td="SNMP traps"]/td[3]').text)
    normalize = console_up.prefix + "normalize"  # the pipelines' consumer group
    wait(driver, 30).until(lambda d: d.find_elements(By.XPATH, f'//table[@id="lag"]//td[.="{normalize}"]'))
    assert "Rates over the last" in driver.find_element(By.CSS_SELECTOR, "p.hint").text
    shoot(driver, "health")
    phone = browser("operator", size=PHONE)
    phone.get(console_up.base + "/health")
    assert phone.find_elements(By.CSS_SELECTOR, "#services tr[data-service]")
    shoot(phone, "health-phone")


def test_an_admin_adds_a_user_who_can_then_log_in(console_up, browser, shoot) -> None:
    driver = browser("admin")
    driver.find_element(By.CSS_SELECTOR, 'header.top nav a[href="/users"]').click()
    form = driver.find_element(By.CSS_SELECTOR, "form.add-user")
    form.find_element(By.NAME, "name").send_keys("night-shift")
    form.find_element(By.CSS_SELECTOR, "select[name=role] option[value=operator]").click()
    form.find_element(By.NAME, "password").send_keys("night shift password")
    driver.find_element(By.ID, "add-user").click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-user="night-shift"]')))
    assert "night-shift added." in driver.find_element(By.CSS_SELECTOR, "p.notice").text
    shoot(driver, "users")
    phone = browser("admin", size=PHONE)
    phone.get(console_up.base + "/users")
    shoot(phone, "users-phone")
    other = browser(None)
    other.get(console_up.base + "/login")
    other.find_element(By.NAME, "name").send_keys("night-shift")
    other.find_element(By.NAME, "password").send_keys("night shift password")
    other.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait(other).until(ec.presence_of_element_located((By.CSS_SELECTOR, "header.top form.who")))
    assert "night-shift (operator)" in other.find_element(By.CSS_SELECTOR, "header.top .who").text
