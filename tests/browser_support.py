"""A real browser for the portal's tests: Debian's Chromium, headless, driven through
Debian's ChromeDriver by Selenium (no downloaded browser builds; `.ci/run` installs both).

Screenshots go to `test-output/screenshots/` at the top of the checkout (or
`$MAILDAEMON_SCREENSHOTS`), and the run's summary lists them (conftest.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent
PHONE = (390, 844)  # a phone's viewport in CSS pixels
DESKTOP = (1280, 900)

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them:"
           " apt-get install chromium chromium-driver)")


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("MAILDAEMON_SCREENSHOTS") or ROOT / "test-output" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def browser(profile: Path, size: tuple[int, int]) -> webdriver.Chrome:
    """Headless Chromium without its background traffic (this machine has no network)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    profile = tmp_path / "chromium-profile"
    driver = browser(profile, PHONE)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def save_screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The whole page as a PNG named after the step (a phone-sized window)."""
    path = screenshot_dir() / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"no screenshot of {name}"
    assert path.stat().st_size > 1000, f"an empty screenshot of {name}"
    return path
