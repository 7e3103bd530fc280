"""The interactive docs at /api/docs, loaded in a real headless Chromium.

Skips with a reason when Chromium or ChromeDriver is missing outside CI; CI installs Debian's
``chromium`` and ``chromium-driver`` and must run it.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import IN_CI, PASSWORD
from tests.live import call, gunicorn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_SECONDS = 30

if not (CHROMIUM and CHROMEDRIVER):
    if IN_CI:
        pytest.fail("CI needs chromium and chromedriver for the docs page test", pytrace=False)
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only importable where the test can run)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def server(database_url, tmp_path):
    env = {
        "DATABASE_URL": database_url,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "RATELIMIT_ENABLED": "false",
        "REQUEST_LOG": "false",
        "TMPDIR": str(tmp_path),
    }
    with gunicorn(env) as base:
        yield base


def _wait(driver):
    return WebDriverWait(driver, WAIT_SECONDS)


def _paths(driver) -> set[str]:
    elements = driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    return {e.get_attribute("data-path") or e.text for e in elements}


def _show(driver, version: str) -> None:
    select = _wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".topbar select"))
    )
    Select(select).select_by_visible_text(f"v{version}")
    _wait(driver).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".info .title"), f"Book API v{version}")
    )
    _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))


def test_docs_render_each_version_and_authorize_works(browser, server, make_user):
    user = make_user()
    status, body = call(
        f"{server}/api/v1/auth/login", "POST", {"email": user.email, "password": PASSWORD}
    )
    assert status == 200
    token = body["access_token"]

    browser.get(f"{server}/api/docs/")
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    assert "Book API v2" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    v2_paths = _paths(browser)
    assert {"/books", "/books/{book_id}", "/auth/login", "/api-keys"} <= v2_paths

    _show(browser, "1")
    v1_paths = _paths(browser)
    assert {"/books", "/books/{book_id}", "/auth/me"} <= v1_paths
    assert "/api-keys" not in v1_paths

    # Authorize with the Bearer token, then call GET /auth/me from the page.
    browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
    field = _wait(browser).until(ec.visibility_of_element_located((By.ID, "auth-bearer-value")))
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn-done").click()

    operation = browser.find_element(By.ID, "operations-auth-me")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    _wait(browser).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#operations-auth-me .try-out__btn"))
    ).click()
    _wait(browser).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, "#operations-auth-me .execute"))
    ).click()
    status_cell = (
        By.CSS_SELECTOR,
        "#operations-auth-me .live-responses-table tbody .response-col_status",
    )
    _wait(browser).until(ec.text_to_be_present_in_element(status_cell, "200"))
    response_body = browser.find_element(
        By.CSS_SELECTOR, "#operations-auth-me .live-responses-table .highlight-code"
    ).text
    assert user.email in response_body
