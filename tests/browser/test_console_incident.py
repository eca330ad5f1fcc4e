"""The Incident and Host pages in a real browser, against a real `vigie up`: an incident made by a real `snmptrap`
linkDown is acknowledged and commented by an operator (the ack comes back through the pipelines), the viewer gets
no buttons, and a host's check results with perfdata are drawn as a chart. Screenshots at desktop and phone size."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from confluent_kafka import Consumer, Producer
from selenium.webdriver.common.by import By

from tests.browser.conftest import PHONE, ConsoleUp, needs_chromium, start_console
from vigie.kafka_client import KafkaSettings
from vigie.producers.checks.plugin_output import check_result
from vigie.schemas.codec import dumps, loads, rfc3339

SNMPTRAP = shutil.which("snmptrap")
pytestmark = [pytest.mark.integration, pytest.mark.peer, needs_chromium, pytest.mark.timeout(300),
              pytest.mark.skipif(SNMPTRAP is None, reason="net-snmp's snmptrap is not installed (Debian: snmp)")]

# The trap comes from 127.0.0.1: the inventory names that address rtr-mairie, with hosts behind it.
INVENTORY = """
[inventory.hosts.rtr-mairie]
site = "mairie"
address = "127.0.0.1"
description = "Town hall router"
[inventory.hosts.sw-ecole]
site = "mairie"
parents = ["rtr-mairie"]
[inventory.hosts.srv-web]
site = "mairie"
parents = ["rtr-mairie"]
description = "Town web portal"
[[routes]]
name = "oncall"
group_wait = "1s"
"""
LINK_DOWN = ["1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.3", "i", "3", "1.3.6.1.2.1.2.2.1.2.3", "s",
             "GigabitEthernet0/3", "1.3.6.1.2.1.2.2.1.7.3", "i", "1", "1.3.6.1.2.1.2.2.1.8.3", "i", "2"]


@pytest.fixture(scope="module")
def console_up(broker: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleUp]:
    """This module's `vigie up`: the shared one plus an inventory (overrides conftest's fixture)."""
    running = start_console(broker, tmp_path_factory.mktemp("console-incident"), INVENTORY)
    try:
        yield running
    finally:
        assert running.up.stop() == 0, "\n".join(running.up.lines[-30:])


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout:g} s")


def send_trap(up: ConsoleUp, tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "MIBS": "", "SNMP_PERSISTENT_DIR": str(tmp_path / "snmp")}
    done = subprocess.run([SNMPTRAP, "-v", "2c", "-c", "public", f"127.0.0.1:{up.snmp_port}", "", *LINK_DOWN],
                          capture_output=True, text=True, timeout=20, env=env)
    assert done.returncode == 0, done.stderr


def open_incident_of(up: ConsoleUp, host: str) -> str:
    """The id of the open incident whose root cause is `host`, read from the incidents topic."""
    consumer = Consumer({**up.settings.librdkafka(), "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([up.prefix + "incidents"])
    try:
        def probe() -> str | None:
            for msg in consumer.consume(100, 0.5):
                if msg.error() is None and msg.value():
                    value = loads(msg.value())
                    if value["status"] == "open" and value["root_cause"]["host"] == host:
                        return value["id"]
            return None

        return wait_for(f"open incident of {host}", probe, 60)
    finally:
        consumer.close()


def flash(driver: Any) -> str:
    """The flash message of the page the last form submission led to (waits for that page)."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.flash"))).text


def scroll_to(driver: Any, css: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).scroll_to_element(driver.find_element(By.CSS_SELECTOR, css)).perform()


def page_text(driver: Any) -> str:
    return driver.find_element(By.TAG_NAME, "main").text


def test_an_operator_acks_and_comments_a_trap_incident_and_the_viewer_sees_no_button(
        console_up, browser, shoot, tmp_path) -> None:
    send_trap(console_up, tmp_path)
    incident_id = open_incident_of(console_up, "rtr-mairie")
    url = f"{console_up.base}/incidents/{quote(incident_id, safe='')}"
    operator = browser("operator")

    def shown() -> bool:
        operator.get(url)
        return bool(operator.find_elements(By.CSS_SELECTOR, "article.incident"))

    wait_for("incident page", shown, 15)
    assert "link GigabitEthernet0/3 down on rtr-mairie" in operator.find_element(By.CSS_SELECTOR, "p.root-cause").text
    operator.find_element(By.NAME, "reason").send_keys("on my way to the town hall")
    operator.find_element(By.CSS_SELECTOR, "form.ack-form button[name=ack]").click()
    assert "Acknowledgement written" in flash(operator)

    def acknowledged() -> bool:
        operator.get(url)
        found = operator.find_elements(By.CSS_SELECTOR, "p.acked")
        return bool(found) and "acknowledged by operator" in found[0].text

    wait_for("acknowledgement applied by the pipelines", acknowledged, 20)
    row = operator.find_element(By.CSS_SELECTOR, "table.members tbody tr")
    assert "operator" in row.text and "HARD" in row.text
    fingerprint = row.get_attribute("data-fingerprint")
    operator.get(console_up.base + "/problems")  # its table comes by the live fragment: wait for the rows

    def acked_on_problems() -> bool:  # the incident's row (members are folded under its root cause)
        rows = operator.find_elements(By.CSS_SELECTOR, "#problems-live tr")
        return any("rtr-mairie" in r.text and [a.text for a in r.find_elements(By.CSS_SELECTOR, "td.acked")] == ["operator"]
                   for r in rows)

    wait_for("the incident acknowledged on the Problems page", acked_on_problems, 10)
    assert fingerprint
    operator.get(url)
    assert "on my way to the town hall" in operator.find_element(By.CSS_SELECTOR, "li.tl-ack").text
    operator.find_element(By.NAME, "text").send_keys("Orange ticket 4411 opened for the fibre <b>cut</b>")
    operator.find_element(By.CSS_SELECTOR, "form.comment-form button[name=comment]").click()
    assert "Comment added." in flash(operator)
    comment = operator.find_element(By.CSS_SELECTOR, "li.tl-comment")
    assert "Orange ticket 4411 opened for the fibre <b>cut</b>" in comment.text and "operator" in comment.text
    assert operator.find_elements(By.CSS_SELECTOR, "li.tl-decision")  # the correlator's own decisions

    def messages_listed() -> bool:
        operator.get(url)
        return any("oncall" in h.text for h in operator.find_elements(By.CSS_SELECTOR, "h3.route"))

    wait_for("the route's message", messages_listed, 20)
    assert "new" in operator.find_element(By.CSS_SELECTOR, "ul.messages").text
    assert "oncall" in operator.find_element(By.CSS_SELECTOR, "li.tl-message").text
    operator.get(url)
    shoot(operator, "incident")
    phone = browser("operator", size=PHONE)
    phone.get(url)
    shoot(phone, "incident-phone")

    viewer = browser("viewer")
    viewer.get(url)
    assert "acknowledged by operator" in page_text(viewer)
    assert viewer.find_elements(By.CSS_SELECTOR, "section.actions") == []
    assert viewer.find_elements(By.CSS_SELECTOR, "main button") == []


def test_a_host_page_shows_inventory_checks_and_a_perfdata_chart(console_up, browser, shoot) -> None:
    producer = Producer(console_up.settings.librdkafka())
    now = time.time()
    for i in range(12):
        used = 62 + i * 2
        for service, status, output in (
                ("DISK /var", 1 if used >= 80 else 0, f"DISK {'WARNING' if used >= 80 else 'OK'} - /var {used}% used"
                                                      f"|/var={used}%;80;90;0;100"),
                ("HTTP", 0, f"HTTP OK: HTTP/1.1 200 OK - 5120 bytes in {0.08 + i / 100:.3f} second response time"
                            f"|time={0.08 + i / 100:.3f}s;0.5;1.0;0 size=5120B;;;0")):
            value = check_result("srv-web", service, status, output, "passive", now - (11 - i) * 300)
            producer.produce(console_up.prefix + "raw.checks", dumps(value), b"srv-web",
                             headers={"received_at": rfc3339(now).encode(), "peer": b"127.0.0.1:5668",
                                      "listener": b"http"})
    assert producer.flush(10) == 0
    driver = browser("viewer")

    def charted() -> bool:
        driver.get(console_up.base + "/hosts/srv-web")
        return len(driver.find_elements(By.CSS_SELECTOR, "figure.perf-chart svg polyline.series")) >= 3

    wait_for("three perfdata charts", charted, 20)
    text = page_text(driver)
    assert "Town web portal" in text and "rtr-mairie" in driver.find_element(By.CSS_SELECTOR, "dd.parents").text
    assert "DISK WARNING - /var 84% used" in text
    disk = driver.find_element(By.CSS_SELECTOR, "div.check[data-service='DISK /var'] figure.perf-chart")
    assert "/var (%)" in disk.text and disk.find_elements(By.CSS_SELECTOR, "line.th-warn")
    assert disk.find_elements(By.CSS_SELECTOR, "line.th-crit")
    shoot(driver, "host")
    scroll_to(driver, "div.check[data-service='HTTP'] figure.perf-chart")
    shoot(driver, "host-checks")
    router = browser("viewer")
    router.get(console_up.base + "/hosts/rtr-mairie")
    assert "srv-web" in router.find_element(By.CSS_SELECTOR, "dd.children").text
    phone = browser("viewer", size=PHONE)
    phone.get(console_up.base + "/hosts/srv-web")
    assert phone.find_elements(By.CSS_SELECTOR, "figure.perf-chart svg")
    shoot(phone, "host-phone")
