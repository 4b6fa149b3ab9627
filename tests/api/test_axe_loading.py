"""axe-core missing is a failure of the browser tests, not a quiet skip, unless ECM_SKIP_AXE=1
asks to run them without it (tests/api/browser_support.py, docs/portal.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import browser_support
from tests.api.browser_support import AXE_OPT_OUT, axe_missing, axe_source


@pytest.fixture
def no_axe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A clone where axe was never installed and npm is not on the machine."""
    monkeypatch.setattr(browser_support, "AXE_WORK", tmp_path / "axe-harness")
    monkeypatch.setattr(browser_support.shutil, "which", lambda _: None)
    monkeypatch.delenv(AXE_OPT_OUT, raising=False)
    browser_support._axe_or_why_not.cache_clear()
    yield
    browser_support._axe_or_why_not.cache_clear()


@pytest.mark.usefixtures("no_axe")
def test_without_axe_the_browser_tests_fail_and_say_how_to_install_it() -> None:
    assert axe_missing() == "npm is not installed (Debian's npm package)"
    with pytest.raises(pytest.fail.Exception) as failed:
        axe_source()
    assert "make bootstrap" in str(failed.value) and "ECM_SKIP_AXE=1" in str(failed.value)


@pytest.mark.usefixtures("no_axe")
def test_the_opt_out_runs_them_without_axe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AXE_OPT_OUT, "1")
    assert axe_source() is None


def test_a_failed_npm_install_fails_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_npm = tmp_path / "npm"
    fake_npm.write_text("#!/bin/sh\necho 'npm ERR! network unreachable' >&2\nexit 1\n")
    fake_npm.chmod(0o755)
    monkeypatch.setattr(browser_support, "AXE_WORK", tmp_path / "axe-harness")
    monkeypatch.setattr(browser_support.shutil, "which", lambda _: str(fake_npm))
    monkeypatch.delenv(AXE_OPT_OUT, raising=False)
    browser_support._axe_or_why_not.cache_clear()
    try:
        missing = axe_missing()
        assert missing is not None and "`npm ci`" in missing and "failed" in missing
        with pytest.raises(pytest.fail.Exception):
            axe_source()
    finally:
        browser_support._axe_or_why_not.cache_clear()


def test_the_installed_axe_loads() -> None:
    # Installed by `make bootstrap`: the real one, as the browser tests inject it.
    browser_support._axe_or_why_not.cache_clear()
    source = axe_source()
    assert source is not None and source.startswith("/*! axe v4.14.1")  # the pinned version
