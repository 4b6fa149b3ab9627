"""Driving the portal in Debian's headless Chromium through its own chromedriver (selenium),
against a real `ecm api` process. No downloads: the driver path is given explicitly and
selenium-manager is told to stay offline.

Screenshots go to test-artifacts/portal/ (gitignored); each path is printed. Accessibility is
checked with axe-core from npm (tests/api/axe/package.json, pinned in its package-lock.json),
installed under .state/axe-harness/ by scripts/bootstrap.sh (or here, when the lock file changed
since) and injected into the page. Without axe the browser tests fail, unless ECM_SKIP_AXE=1
says to run them without axe's checks."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
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
# Issue 17's goal for a portal page; timings are recorded against it, never asserted in a test
# (loadtests/portal_pages.py reports them).
PAGE_LIMIT_MS = 400.0
# How many more times each page read by axe is fetched (GET, the browser's session) to time
# it on the server: 0 in a test run; loadtests/portal_pages.py sets more.
PAGE_TIMES_REPEAT = "ECM_PAGE_TIMES_REPEAT"


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


# The explicit opt-out: run the browser tests without axe when it cannot be installed.
AXE_OPT_OUT = "ECM_SKIP_AXE"


class AxeUnavailable(Exception):
    pass


def axe_source() -> str | None:
    """axe.min.js, or None when it cannot be loaded and ECM_SKIP_AXE=1 says to go on without
    it; otherwise a missing axe fails the test that wanted it (a clone must not pass its
    accessibility checks by not running them)."""
    source, missing = _axe_or_why_not()
    if source is not None:
        return source
    if os.environ.get(AXE_OPT_OUT) == "1":
        return None
    pytest.fail(
        f"axe-core cannot be loaded: {missing}. `make bootstrap` installs it "
        f"(scripts/bootstrap.sh); set {AXE_OPT_OUT}=1 to run without axe's checks.",
        pytrace=False,
    )


def axe_missing() -> str | None:
    """Why axe cannot be loaded, or None when it can."""
    return _axe_or_why_not()[1] or None


@functools.cache
def _axe_or_why_not() -> tuple[str | None, str]:
    # Once per session, failure included: a failed `npm ci` is not retried for every page.
    try:
        return _installed_axe(), ""
    except AxeUnavailable as missing:
        return None, str(missing)


def _installed_axe() -> str:
    """axe.min.js from the pinned npm package, installed once per lock file: the stamp is the
    one scripts/bootstrap.sh writes."""
    lock = hashlib.sha256((AXE_PACKAGE / "package-lock.json").read_bytes()).hexdigest()[:16]
    stamp = AXE_WORK / "node_modules" / f".installed-{lock}"
    if not stamp.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise AxeUnavailable("npm is not installed (Debian's npm package)")
        AXE_WORK.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(AXE_PACKAGE / name, AXE_WORK / name)
        try:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=AXE_WORK,
                check=True,
                timeout=300,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as failed:
            raise AxeUnavailable(f"`npm ci` in {AXE_WORK} failed ({failed})") from failed
        stamp.touch()
    source = AXE_WORK / "node_modules" / "axe-core" / "axe.min.js"
    if not source.is_file():
        raise AxeUnavailable(f"{source} is missing")
    return source.read_text()


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
    # The walks through the portal (test_portal_browser.WALKS) that ran to the end into it.
    walked: set[str] = field(default_factory=set)
    # Each page's times: as the browser loaded it, and fetched again (PAGE_TIMES_REPEAT).
    times: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write_times(self, path: Path) -> None:
        """page-times.json and a table: each page's time over the 0.4 s goal."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.times, indent=2, sort_keys=True) + "\n")
        print(f"page times: {len(self.times)} pages -> {path}")
        print(f"{'page':<34} {'server ms':>9} {'load ms':>8} {'repeat p50':>10}  ratio to 400 ms")
        for name, entry in sorted(self.times.items()):
            repeat = entry.get("repeat_p50_ms")
            worst = max(v for v in (entry["server_ms"], entry["load_ms"], repeat) if v is not None)
            print(
                f"{name:<34} {entry['server_ms']:>9.1f} {_ms(entry['load_ms']):>8} "
                f"{_ms(repeat):>10}  {worst / PAGE_LIMIT_MS:.2f}"
            )

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


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# The last navigation as the browser timed it: the server's part (request sent to first byte
# of the answer) and the page's load (its fetch to the load event's end). Both leave out the
# redirects that led to the page, timed apart: after signing in they hold the password check,
# which is slow on purpose (loadtests/sign_in_bench.py times it).
_NAVIGATION_TIMES = """
const [n] = performance.getEntriesByType('navigation');
if (!n) { return null; }
return {server_ms: n.responseStart - n.requestStart,
        load_ms: n.loadEventEnd > 0 ? n.loadEventEnd - n.fetchStart : null,
        redirect_ms: n.redirectEnd - n.redirectStart};
"""


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
        """axe over the page as it is; recorded in the report, returned for the caller.
        Nothing is checked when axe is missing and ECM_SKIP_AXE=1 allows that."""
        if self._axe_source is None:
            self._axe_source = axe_source()
            if self._axe_source is None:
                return []
        self.driver.execute_script(self._axe_source)
        self.driver.set_script_timeout(120)
        violations = self.driver.execute_async_script(_AXE_RUN)
        assert not isinstance(violations, dict), violations
        if self.axe is not None:
            self.axe.add(name, self.driver.current_url, violations)
            self._time(name)
        return list(violations)

    def _time(self, name: str) -> None:
        """Record how long the page took (AxeReport.times); with PAGE_TIMES_REPEAT, fetch it
        again that many times in this session and time the server's answer."""
        assert self.axe is not None
        self._wait(10).until(lambda d: d.execute_script("return document.readyState") == "complete")
        times = self.driver.execute_script(_NAVIGATION_TIMES)
        if times is None:
            return
        url = self.driver.current_url
        entry: dict[str, Any] = {"url": url, **times}
        repeat = int(os.environ.get(PAGE_TIMES_REPEAT, "0") or 0)
        cookie = self.driver.get_cookie("ecm_session")
        if repeat > 0:
            cookies = {"ecm_session": cookie["value"]} if cookie else {}
            samples: list[float] = []
            with httpx.Client(cookies=cookies, timeout=30) as client:
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = client.get(url)
                    elapsed = (time.perf_counter() - started) * 1000
                    if answer.status_code != 200:  # a page a form's POST answered: no GET
                        entry["repeat_status"] = answer.status_code
                        break
                    samples.append(elapsed)
            if samples:
                samples.sort()
                entry.update(
                    repeat_n=len(samples),
                    repeat_p50_ms=samples[len(samples) // 2],
                    repeat_max_ms=samples[-1],
                )
        self.axe.times[name] = entry

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
