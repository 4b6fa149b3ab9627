"""Driving the portal in Debian's headless Chromium through its own chromedriver (selenium),
against a real `ecm api` process. No downloads: the driver path is given explicitly and
selenium-manager is told to stay offline.

Screenshots go to .state/artefacts/portal/ (gitignored); each path is printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from core.process import free_port
from tests.api.api_support import TEST_PASSWORD
from tests.support.paths import ROOT
from tests.support.polling import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTEFACTS = ROOT / ".state" / "artefacts" / "portal"
# The machine has no outside network and Chromium must not try to reach it.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
WIDTH = 1280


@contextmanager
def api_process(role_env: dict[str, str]) -> Iterator[str]:
    """The real `ecm api` on a free port; yields its base URL once /health answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ecm", "api", "--port", str(port)], env=role_env, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout_s=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/bootstrap.sh)")
    os.environ["SE_OFFLINE"] = "1"  # never let selenium-manager look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(user_data_dir, ignore_errors=True)


class Portal:
    """A person at the portal: signs in, follows links, fills forms, takes screenshots."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url
        self.shots: list[Path] = []

    def open(self, path: str) -> None:
        self.driver.get(f"{self.base_url}{path}")

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def _wait(self, timeout_s: float) -> WebDriverWait[WebDriver]:
        # While a form's response replaces the page, chromedriver may answer a lookup with
        # "Node with given id does not belong to the document" (an unknown error, not a stale
        # element): look again until the timeout, like for a stale element.
        return WebDriverWait(
            self.driver,
            timeout_s,
            ignored_exceptions=(StaleElementReferenceException, WebDriverException),
        )

    def wait_for(self, css: str, timeout_s: float = 30) -> WebElement:
        return self._wait(timeout_s).until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
        )

    def wait_for_text(self, css: str, text: str, timeout_s: float = 30) -> WebElement:
        """The element once it shows `text`: after a form posts, the old page's element of the
        same kind may still be there (and go stale) until the new page arrives."""
        self._wait(timeout_s).until(
            expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
        )
        return self.find(css)

    def click_link(self, text: str) -> None:
        self.driver.find_element(By.LINK_TEXT, text).click()

    def sign_in(self, username: str, password: str = TEST_PASSWORD) -> None:
        self.open("/portal/sign-in")
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(password)
        self.find("form[action='/portal/session'] button[type=submit]").click()
        self.wait_for("nav[aria-label=Main]")

    def sign_out(self) -> None:
        self.find("form[action='/portal/sign-out'] button").click()
        self.wait_for("#username")

    def screenshot(self, name: str, width: int = WIDTH) -> Path:
        """The whole page at `width`: the window is stretched to the page's height first."""
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, max(900, min(int(height) + 120, 6000)))
        path = ARTEFACTS / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), path
        self.driver.set_window_size(width, 900)
        print(f"screenshot: {path}")
        self.shots.append(path)
        return path
