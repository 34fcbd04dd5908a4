"""A person's view: the example app in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium). Screenshots land in test-artifacts/ on failure."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from example_app.models import User, db

from .conftest import LiveExample

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    pytest.skip("chromium and chromedriver are not installed", allow_module_level=True)

try:
    from selenium import webdriver
except ImportError:  # selenium is in the dev extra
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs selenium: pip install -e '.[dev]'")
    pytest.skip("selenium is not installed", allow_module_level=True)
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.expected_conditions import staleness_of  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
        (ARTIFACTS / f"{request.node.name}.html").write_text(driver.page_source)
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def click_through(driver: Any, by: str, value: str) -> None:
    """Click a link or submit button and wait until the page it leads to has replaced this
    one. ``click()`` can return before a form's answer has begun to load, so reading the page
    at once may still read the old one."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, value).click()
    WebDriverWait(driver, 20).until(staleness_of(page))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def eventually(check: Callable[[], bool], refresh: Callable[[], None], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the page never showed it"
        time.sleep(0.3)
        refresh()


def sign_up(driver: object, example: LiveExample, name: str, email: str) -> None:
    driver.get(f"{example.url}/signup")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "name").send_keys(name)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "email").send_keys(email)  # type: ignore[attr-defined]
    click_through(driver, By.ID, "signup")


def row_text(driver: object) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "tbody tr").text)  # type: ignore[attr-defined]


def cell(driver: object, css_class: str) -> str:
    """The newest account's cell of that class (the accounts page lists newest first).

    The page may reload itself (it refreshes while an email is on its way): an element
    that went stale under us is looked up again.
    """
    for _ in range(20):
        try:
            return str(driver.find_element(By.CSS_SELECTOR, f"tbody tr .{css_class}").text)  # type: ignore[attr-defined]
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.1)
    raise AssertionError(f"no .{css_class} cell on the page")


LABELS = {"queued", "sending", "sent to Notify", "delivered"}


def test_sign_up_read_the_email_and_see_it_delivered(browser: object, example: LiveExample) -> None:
    driver = browser
    sign_up(driver, example, "Alex", "alex@example.com")
    assert "Account created. We are sending you a welcome email." in driver.page_source  # type: ignore[attr-defined]
    accounts = driver.current_url  # type: ignore[attr-defined]
    # The email is queued with the account; the outbox worker sends it a moment later.
    assert cell(driver, "delivery-status") in LABELS
    eventually(lambda: cell(driver, "delivery-status") in {"sent to Notify", "delivered"}, driver.refresh)  # type: ignore[attr-defined]
    click_through(driver, By.ID, "inbox-link")
    assert "Welcome to the example service, Alex" in driver.page_source  # type: ignore[attr-defined]
    click_through(driver, By.PARTIAL_LINK_TEXT, "Welcome to the example service, Alex")
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "Hello Alex," in body and "Your account is ready" in body
    driver.get(accounts)  # type: ignore[attr-defined]
    eventually(lambda: cell(driver, "delivery-status") == "delivered", driver.refresh)  # type: ignore[attr-defined]
    assert cell(driver, "account-state") == "active"
    # Nothing in flight any more: the page no longer refreshes itself.
    assert not driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')  # type: ignore[attr-defined]


def test_the_accounts_page_refreshes_itself_while_an_email_is_on_its_way(
    browser: object, example_without_worker: LiveExample
) -> None:
    """No worker yet: the email stays queued and the page refreshes itself; once the test
    drains the outbox, the page moves on with no help from the test."""
    driver, example = browser, example_without_worker
    sign_up(driver, example, "Alex", "alex@example.com")
    assert cell(driver, "delivery-status") == "queued"
    assert driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')  # type: ignore[attr-defined]
    example.drain()
    eventually(lambda: cell(driver, "delivery-status") == "delivered", lambda: None)


def test_a_bouncing_address_becomes_inactive(browser: object, example: LiveExample) -> None:
    driver = browser
    sign_up(driver, example, "Kim", "perm-fail@simulator.notify")
    eventually(lambda: cell(driver, "account-state").startswith("inactive"), driver.refresh)  # type: ignore[attr-defined]
    assert cell(driver, "delivery-status") == "permanent failure"
    assert "permanent delivery failure" in row_text(driver)  # the audit row's reason


def count_tag(driver: object, what: str) -> int:
    """A notice batch's count tag (``3 delivered``), looked up again if the page reloaded."""
    for _ in range(20):
        try:
            text = driver.find_element(By.CSS_SELECTOR, f'#batch-counts [data-count="{what}"]').text  # type: ignore[attr-defined]
            return int(str(text).split()[0])
        except (StaleElementReferenceException, NoSuchElementException):
            time.sleep(0.1)
    raise AssertionError(f"no {what} count on the page")


def test_send_a_notice_to_all_users_and_watch_it_delivered(browser: object, example: LiveExample) -> None:
    """The admin action: one batch to the active users, whose page follows it to delivered
    by refreshing itself."""
    with example.app.app_context():
        for name, active in (("Ada", True), ("Bo", True), ("Cy", False)):
            address = f"{name.lower()}@digital.cabinet-office.gov.uk"
            db.session.add(User(name=name, email_address=address, active=active))
        db.session.commit()
    driver = browser
    driver.get(f"{example.url}/")  # type: ignore[attr-defined]
    click_through(driver, By.LINK_TEXT, "Send a notice")
    driver.find_element(By.ID, "notice").send_keys("The service is closed on Saturday.")  # type: ignore[attr-defined]
    batch = driver.find_element(By.ID, "batch")  # type: ignore[attr-defined]
    assert batch.get_attribute("value").startswith("notice-")  # a name is made up; the admin may change it
    batch.clear()
    batch.send_keys("saturday-closure")
    click_through(driver, By.ID, "send-notice")
    assert "Batch saturday-closure: the notice is queued for 2 users." in driver.page_source  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "batch-total").text == "2"  # type: ignore[attr-defined]
    # No help from the test: the page refreshes itself until Notify has delivered both.
    eventually(lambda: count_tag(driver, "delivered") == 2, lambda: None, timeout=30)
    assert count_tag(driver, "failed") == 0 and count_tag(driver, "queued") == 0
    eventually(lambda: not driver.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]'), lambda: None)  # type: ignore[attr-defined]
    assert driver.find_element(By.ID, "batch-delivered").text == "2 of 2"  # type: ignore[attr-defined]
    click_through(driver, By.ID, "batch-emails-link")
    # The status page lists the batch's two emails, each delivered.
    listed = driver.find_elements(By.CSS_SELECTOR, "#list tr.email")  # type: ignore[attr-defined]
    assert len(listed) == 2 and all("batch saturday-closure" in row.text for row in listed)
    assert all("delivered" in row.text for row in listed)
    driver.get(f"{example.url}/accounts")  # type: ignore[attr-defined]
    progress = driver.find_element(By.CSS_SELECTOR, "#notices .notice-progress").text  # type: ignore[attr-defined]
    assert "2 delivered" in progress
