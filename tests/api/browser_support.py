"""Driving the portal in Debian's headless Chromium through its own chromedriver (selenium),
against a real `ecm api` process. No downloads: the driver path is given explicitly and
selenium-manager is told to stay offline.

Screenshots go to test-artifacts/portal/ (gitignored); each path is printed. Accessibility is
checked with axe-core from npm (tests/api/axe/package.json, pinned in its package-lock.json),
installed under .state/axe-harness/ at test time and injected into the page."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
ARTEFACTS = ROOT / "test-artifacts" / "portal"
AXE_PACKAGE = ROOT / "tests" / "api" / "axe"
AXE_WORK = ROOT / ".state" / "axe-harness"
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
    "--window-size=1400,900",
)
WIDTH = 1400  # a desktop
PHONE_WIDTH = 390  # a phone held upright
# axe's impacts that fail a page: a person cannot use it, or only with great difficulty.
BLOCKING = ("serious", "critical")


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


def axe_source() -> str:
    """axe.min.js from the pinned npm package, installed once per lock file (like the
    TimescaleDB harness of tests/ecm)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("needs npm to install axe-core (tests/api/axe/package.json)")
    AXE_WORK.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(AXE_PACKAGE / name, AXE_WORK / name)
    lock = hashlib.sha256((AXE_PACKAGE / "package-lock.json").read_bytes()).hexdigest()[:16]
    stamp = AXE_WORK / "node_modules" / f".installed-{lock}"
    if not stamp.exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AXE_WORK,
            check=True,
            timeout=300,
        )
        stamp.touch()
    return (AXE_WORK / "node_modules" / "axe-core" / "axe.min.js").read_text()


_AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(result => done(result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))
})))).catch(error => done({error: String(error)}));
"""


@dataclass
class AxeReport:
    """axe's violations per page, counted by impact; written to axe-summary.json."""

    pages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, url: str, violations: list[dict[str, Any]]) -> None:
        counts = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
        for violation in violations:
            counts[violation["impact"] or "minor"] += violation["nodes"]
        self.pages[name] = {"url": url, "counts": counts, "violations": violations}

    def blocking(self) -> dict[str, list[dict[str, Any]]]:
        return {
            name: [v for v in page["violations"] if v["impact"] in BLOCKING]
            for name, page in self.pages.items()
            if any(v["impact"] in BLOCKING for v in page["violations"])
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        existing: dict[str, Any] = {}
        if path.exists():
            existing = json.loads(path.read_text())
        existing.update(self.pages)
        path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
        totals = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
        for page in existing.values():
            for impact, count in page["counts"].items():
                totals[impact] += count
        print(f"axe: {len(existing)} pages, {totals} -> {path}")


class Portal:
    """A person at the portal: signs in, follows links, fills forms, takes screenshots."""

    def __init__(self, driver: WebDriver, base_url: str, axe: AxeReport | None = None) -> None:
        self.driver = driver
        self.base_url = base_url
        self.shots: list[Path] = []
        self.axe = axe
        self._axe_source: str | None = None

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

    def check_page(self, name: str) -> list[dict[str, Any]]:
        """axe over the page as it is; recorded in the report, returned for the caller."""
        if self._axe_source is None:
            self._axe_source = axe_source()
        self.driver.execute_script(self._axe_source)
        self.driver.set_script_timeout(120)
        violations = self.driver.execute_async_script(_AXE_RUN)
        assert not isinstance(violations, dict), violations
        if self.axe is not None:
            self.axe.add(name, self.driver.current_url, violations)
        return list(violations)

    def overflow_px(self) -> int:
        """How far the page is wider than its viewport: a phone would scroll sideways."""
        return int(
            self.driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )

    def capture(self, name: str, width: int) -> Path:
        """The whole page as a device `width` pixels wide shows it (a phone's layout viewport
        at 390), saved as <name>-<width>.png; at a phone's width the page must not scroll
        sideways."""
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        metrics = {"width": width, "deviceScaleFactor": 1, "mobile": width < 600}
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "height": 900}
        )
        try:
            overflow = self.overflow_px()
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {**metrics, "height": max(600, min(int(height), 8000))},
            )
            path = ARTEFACTS / f"{name}-{width}.png"
            assert self.driver.save_screenshot(str(path)), path
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        print(f"screenshot: {path}")
        self.shots.append(path)
        assert overflow <= 0, f"{name}: the page is {overflow} px wider than {width} px"
        return path

    def shots_at_both_widths(self, name: str) -> list[Path]:
        return [self.capture(name, WIDTH), self.capture(name, PHONE_WIDTH)]

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
