"""Silences, maintenance windows and the On duty page in the real browser, against a real `vigie up`: what the
operator creates goes through the control topic and is listed once read back; expired, it is gone; the viewer
gets no buttons. The `vigie up` here has the documented reference routes (staff 06:00-22:00 Monday to Saturday,
an on-call partner otherwise, portals 24/7) with receivers, for the On duty page."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import PHONE, ConsoleUp, needs_chromium, start_console
from vigie.console.feed import Writer
from vigie.kafka_client import KafkaSettings
from vigie.pipelines.correlate.silences import command_value

pytestmark = [pytest.mark.integration, pytest.mark.peer, needs_chromium, pytest.mark.timeout(300)]

ROUTES = """
[timeperiods.staff-hours]
timezone = "Europe/Paris"
"monday..saturday" = "06:00-22:00"

[receivers.portal-provider]
type = "webhook"
url = "https://portail.prestataire.example/vigie"

[receivers.staff-mail]
type = "email"
smarthost = "smtp.syndicat.example:587"
from = "vigie@syndicat.example"
to = ["dsi@syndicat.example"]

[receivers.staff-chat]
type = "slack"
url = "https://chat.syndicat.example/hooks/dsi-secret-path"

[receivers.oncall-sms]
type = "sms"
url = "https://sms.operateur.example/api/send"
body = "to={to}&text={message}"
to = ["+33600000000"]

[[routes]]
name = "portals"
match_re = { host = "portail-.*" }
receivers = ["portal-provider"]

[[routes]]
name = "staff"
active = "staff-hours"
receivers = ["staff-mail", "staff-chat"]

[[routes]]
name = "oncall-partner"
receivers = ["oncall-sms"]
escalate_after = "30m"
escalate_to = "staff"
"""
# No `*_env` secrets here: `vigie up` does not pass receivers' secrets to its notify child (child_env.py's
# child_sections has no entry for notify), so the service would not start; tests/unit/test_console_duty.py
# checks that env names are shown and secrets are not.


@pytest.fixture(scope="module")
def console_up(broker: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleUp]:
    """This module's `vigie up`: the conftest one plus the reference routes and their receivers."""
    running = start_console(broker, tmp_path_factory.mktemp("console-silences"), ROUTES)
    try:
        yield running
    finally:
        assert running.up.stop() == 0, "\n".join(running.up.lines[-30:])


def wait(driver, css: str, timeout: float = 15):
    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def notice(driver) -> str:
    return wait(driver, "p.notice").text


def type_into(form, name: str, text: str) -> None:
    field = form.find_element(By.NAME, name)
    field.clear()
    field.send_keys(text)


def test_operator_creates_lists_and_expires_a_silence_and_a_maintenance_window(console_up, browser, shoot) -> None:
    driver = browser("operator")
    driver.get(console_up.base + "/silences")
    form = driver.find_element(By.ID, "new-silence")
    type_into(form, "matchers", 'host="rtr9"\nseverity!="info"')
    type_into(form, "duration", "2h")
    type_into(form, "reason", "fibre cut on the town hall link")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    said = notice(driver)
    # the page waited for its own record to come back from the control topic: it is listed, read from Kafka
    assert "written to the control topic" in said and "Not read back yet" not in said, said
    silence_id = driver.current_url.split("written=")[1]
    row = driver.find_element(By.CSS_SELECTOR, f'#silences tr[data-id="{silence_id}"]')
    assert "In force" in row.text and "host=rtr9" in row.text and "severity!=info" in row.text
    assert "operator" in row.text and "fibre cut" in row.text

    # from a problem: the Problems page links to /silences/new?host=..&component=..
    driver.get(console_up.base + "/silences/new?host=nas1&component=backup")
    assert 'host="nas1"' in driver.find_element(By.NAME, "matchers").get_attribute("value")
    form = driver.find_element(By.ID, "new-maintenance")
    assert form.find_element(By.NAME, "hosts").get_attribute("value") == "nas1"
    for day in ("tuesday", "thursday"):
        form.find_element(By.CSS_SELECTOR, f'input[name=days][value="{day}"]').click()
    type_into(form, "hours", "22:00-23:00")
    type_into(form, "duration", "30d")
    type_into(form, "reason", "nightly backups")
    shoot(driver, "silences-new")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    said = notice(driver)
    assert "Not read back yet" not in said, said
    maintenance_id = driver.current_url.split("written=")[1]
    row = driver.find_element(By.CSS_SELECTOR, f'#maintenances tr[data-id="{maintenance_id}"]')
    assert "nas1" in row.text and "tuesday, thursday 22:00-23:00" in row.text and "nightly backups" in row.text

    driver.get(console_up.base + "/silences")  # a fresh read of the page: both still there
    wait(driver, f'#silences tr[data-id="{silence_id}"]')
    wait(driver, f'#maintenances tr[data-id="{maintenance_id}"]')
    shoot(driver, "silences")
    phone = browser("operator", size=PHONE)
    phone.get(console_up.base + "/silences")
    wait(phone, f'#silences tr[data-id="{silence_id}"]')
    shoot(phone, "silences-phone")

    for table, ident in (("silences", silence_id), ("maintenances", maintenance_id)):
        row = driver.find_element(By.CSS_SELECTOR, f'#{table} tr[data-id="{ident}"]')
        row.find_element(By.CSS_SELECTOR, "form.expire button").click()
        assert f"{ident} expired." in notice(driver)
        assert not driver.find_elements(By.CSS_SELECTOR, f'tr[data-id="{ident}"]')
    driver.get(console_up.base + "/silences")
    wait(driver, "#silences")
    assert not driver.find_elements(By.CSS_SELECTOR, f'tr[data-id="{silence_id}"], tr[data-id="{maintenance_id}"]')


def test_a_form_error_comes_back_on_the_form(console_up, browser) -> None:
    driver = browser("admin")
    driver.get(console_up.base + "/silences")
    form = driver.find_element(By.ID, "new-silence")
    type_into(form, "matchers", "host=~[")
    type_into(form, "reason", "typo")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = wait(driver, "#new-silence p.error").text
    assert "not a valid regular expression" in error and "\n" not in error
    assert driver.find_element(By.NAME, "matchers").get_attribute("value") == "host=~["


def test_the_viewer_sees_the_list_without_buttons(console_up, browser, shoot) -> None:
    now = time.time()
    value = command_value("silence", "operator", "router swap", now, start=now, end=now + 3600,
                          matchers=["site=mairie-b"])
    writer = Writer(console_up.settings)
    writer.control(value["id"], value)
    driver = browser("viewer")
    try:
        for _ in range(50):  # the console reads it from the control topic
            driver.get(console_up.base + "/silences")
            if driver.find_elements(By.CSS_SELECTOR, f'tr[data-id="{value["id"]}"]'):
                break
            time.sleep(0.2)
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{value["id"]}"]')
        assert "site=mairie-b" in row.text and "router swap" in row.text
        assert not driver.find_elements(By.CSS_SELECTOR, "form.expire, #new-silence, #new-maintenance, button.secondary")
        driver.get(console_up.base + "/silences/new?host=rtr1")
        assert "403" in driver.page_source and not driver.find_elements(By.ID, "new-silence")
    finally:
        writer.control(value["id"], None)


def test_on_duty_shows_the_routes_their_receivers_and_the_next_change(console_up, browser, shoot) -> None:
    driver = browser("viewer")
    driver.get(console_up.base + "/duty")
    cards = {c.get_attribute("data-route"): c for c in driver.find_elements(By.CSS_SELECTOR, "article.duty-route")}
    assert list(cards) == ["portals", "staff", "oncall-partner"]
    assert "receiving" in cards["portals"].text and "portail.prestataire.example" in cards["portals"].text
    assert "dsi@syndicat.example" in cards["staff"].text and "chat.syndicat.example" in cards["staff"].text
    assert "+33600000000" in cards["oncall-partner"].text and "30 minutes" in cards["oncall-partner"].text
    staff_on = "receiving" in cards["staff"].get_attribute("class")
    change = driver.find_element(By.ID, "next-change").text
    # staff on: the next change hands over to the on-call partner; staff off: back to the staff
    assert ("starts receiving: oncall-partner" if staff_on else "starts receiving: staff") in change, change
    page = driver.page_source
    assert "dsi-secret-path" not in page  # a URL's path may hold a token: only its host is shown
    shoot(driver, "duty")
    phone = browser("viewer", size=PHONE, language="fr-FR")
    phone.get(console_up.base + "/duty")
    assert "Prochaine relève" in wait(phone, "#next-change").text
    shoot(phone, "duty-phone")
