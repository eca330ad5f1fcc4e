"""Real-browser tests of the console: Debian's chromium driven by Selenium through Debian's chromedriver
(paths given, nothing downloaded at run time), against a real `vigie up` on the session's Kafka broker.

`console_up` is one `vigie up` per test module (pipelines, SNMP traps and the console on free loopback ports)
with one account per role; `browser(role)` opens a logged-in chromium at 1366x768. Screenshots go to
$VIGIE_SCREENSHOTS (docs/console/ when refreshing the documentation), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_up_ready import Up
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PASSWORD = "console test password"
ROLES = ("viewer", "operator", "auditor", "admin")
DESKTOP = (1366, 768)
PHONE = (390, 844)

needs_chromium = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)) and not os.environ.get("CI"),
    reason="chromium and chromedriver not installed (Debian: chromium chromium-driver; bash scripts/setup)")


@dataclass
class ConsoleUp:
    """A running `vigie up` with its console, and what a test needs to feed it."""

    base: str
    conf: Path
    prefix: str
    broker: KafkaSettings  # the session's broker (its admin's SASL settings)
    snmp_port: int
    state_dir: Path
    up: Up
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> KafkaSettings:
        return replace(self.broker, topic_prefix=self.prefix)


def console_config(tmp: Path, broker: KafkaSettings, prefix: str, console_port: int, snmp_port: int,
                   extra: str = "") -> Path:
    conf = tmp / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp / "state"}"\n'
        f'{extra}\n'
        f'{kafka_table(broker, prefix)}'
        f'[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
        f'[snmp]\nlisten = "127.0.0.1:{snmp_port}"\n'
        f'[archive]\nenabled = false\n[checks]\nactive_enabled = false\n'
        f'[console]\nlisten = "127.0.0.1:{console_port}"\n')
    return conf


def add_users(conf: Path) -> None:
    for role in ROLES:
        done = subprocess.run([sys.executable, "-m", "vigie.app.cli", "user", "add", role, "--role", role,
                               "--password-stdin", "--config", str(conf)], input=PASSWORD + "\n",
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr


def start_console(broker: KafkaSettings, tmp: Path, extra_config: str = "") -> ConsoleUp:
    """`vigie up` with the console; extra_config is TOML put before the tables (e.g. [[routes]] need none)."""
    port, snmp_port, prefix = free_port(), free_port(), f"console-{uuid.uuid4().hex[:6]}."
    conf = console_config(tmp, broker, prefix, port, snmp_port, extra_config)
    add_users(conf)
    up = Up(conf, env=dict(os.environ))
    up.wait_line("ready", 120)
    return ConsoleUp(f"http://127.0.0.1:{port}", conf, prefix, broker, snmp_port, tmp / "state", up)


@pytest.fixture(scope="module")
def console_up(broker: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleUp]:
    running = start_console(broker, tmp_path_factory.mktemp("console"))
    try:
        yield running
    finally:
        assert running.up.stop() == 0, "\n".join(running.up.lines[-30:])


def new_driver(size: tuple[int, int] = DESKTOP, language: str = "en") -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={size[0]},{size[1]}", f"--lang={language}"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": language})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_window_size(*size)
    driver.implicitly_wait(0)
    return driver


def log_in(driver: Any, base: str, role: str, wall: bool = False) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/login")
    driver.find_element(By.NAME, "name").send_keys(role)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    if wall:
        driver.find_element(By.NAME, "wall").click()
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "header.top form.who")))


@pytest.fixture()
def browser(console_up: ConsoleUp) -> Iterator[Callable[..., Any]]:
    """browser(role, size=DESKTOP, language="en", wall=False) -> a logged-in Selenium driver; all closed at the end."""
    drivers: list[Any] = []

    def open_as(role: str | None, size: tuple[int, int] = DESKTOP, language: str = "en", wall: bool = False) -> Any:
        driver = new_driver(size, language)
        drivers.append(driver)
        if role is not None:
            log_in(driver, console_up.base, role, wall)
        return driver

    try:
        yield open_as
    finally:
        for driver in drivers:
            driver.quit()


def screenshot_dir(tmp: Path) -> Path:
    target = os.environ.get("VIGIE_SCREENSHOTS")
    folder = Path(target) if target else tmp / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture()
def shoot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """shoot(driver, name) -> the PNG written (NAME.png at the driver's current size)."""

    def take(driver: Any, name: str) -> Path:
        path = screenshot_dir(tmp_path) / f"{name}.png"
        assert driver.save_screenshot(str(path)), f"no screenshot {path}"
        return path

    return take
