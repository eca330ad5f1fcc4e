"""Logging in through the real browser: the wrong password is refused, each role lands on its first page."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import PHONE, needs_chromium

pytestmark = [pytest.mark.integration, pytest.mark.peer, needs_chromium, pytest.mark.timeout(180)]


def test_a_wrong_password_is_refused_and_a_viewer_lands_on_problems(console_up, browser, shoot) -> None:
    driver = browser(None)
    driver.get(console_up.base + "/problems")
    assert driver.current_url.startswith(console_up.base + "/login")
    driver.find_element(By.NAME, "name").send_keys("viewer")
    driver.find_element(By.NAME, "password").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    error = WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.error")))
    assert "Wrong user name or password." in error.text
    shoot(driver, "login")
    viewer = browser("viewer")
    assert viewer.current_url == console_up.base + "/problems"
    assert "viewer" in viewer.find_element(By.CSS_SELECTOR, "header.top .who").text


def test_french_browser_gets_french_pages_on_a_phone(console_up, browser, shoot) -> None:
    driver = browser(None, size=PHONE, language="fr-FR")
    driver.get(console_up.base + "/login")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert "Mot de passe" in driver.page_source
    shoot(driver, "login-phone-fr")
