"""The status page in headless Chromium, as an operator uses it: a delivered and a failed
email in the list, the failed one's timeline, Retry queues it again, Pause and Resume.
No JavaScript is needed, and none runs. A screenshot of the page is kept in
test-artifacts/ (and the docs show one taken this way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import DMEmail
from flask_dm_email.testing import serve_app

# Chromium and selenium as the example app's browser test has them (it skips, or under CI
# fails, when either is missing).
from ..example_app.test_browser import ARTIFACTS, By, browser, click_through  # noqa: F401  (the Chromium fixture)
from .conftest import delivered_and_failed


def text_of(driver: Any, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def screenshot(driver: Any, name: str) -> None:
    """The whole page, kept in test-artifacts/ (docs/_static/status-page.png is one)."""
    ARTIFACTS.mkdir(exist_ok=True)
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, driver.execute_script("return document.documentElement.scrollHeight") + 100)
    driver.save_screenshot(str(ARTIFACTS / name))
    driver.set_window_size(width, 900)


@pytest.mark.parametrize("outbox_url", ["sqlite"], indirect=True)
def test_an_operator_finds_a_failed_email_retries_it_and_pauses_the_outbox(
    browser: Any, page_app: Callable[..., Flask], sim: Any  # noqa: F811
) -> None:
    driver = browser
    app = page_app()
    good, bad = delivered_and_failed(app, sim)
    with serve_app(app) as url:
        driver.get(f"{url}/_dm_email/")
        assert driver.find_element(By.TAG_NAME, "h1").text == "Email status"
        assert "notify-delivered" in text_of(driver, f"#email-{good}")
        assert "failed-send-to-notify" in text_of(driver, f"#email-{bad}")
        assert text_of(driver, "#count-notify-delivered") == "1"
        screenshot(driver, "status-page.png")

        # The failed email's page: its timeline, oldest event first.
        click_through(driver, By.CSS_SELECTOR, f"#email-{bad} a.open")
        events = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#timeline tr.event")]
        assert "queued" in events[0]
        assert any("failed" in event and "BadRequestError" in event for event in events)
        screenshot(driver, "status-page-email.png")

        click_through(driver, By.ID, "retry")
        assert "The email is queued again." in text_of(driver, "#done")
        assert driver.find_element(By.CSS_SELECTOR, "h1 .tag").text == "queued"
        assert "operator-retry" in text_of(driver, "#timeline")

        click_through(driver, By.LINK_TEXT, "Back to all emails")
        assert "queued" in text_of(driver, f"#email-{bad}")
        click_through(driver, By.ID, "pause")
        assert "The outbox is paused" in text_of(driver, "#paused-banner")
        with app.app_context():
            assert DMEmail.outbox.paused
        click_through(driver, By.ID, "resume")
        assert "The outbox is running again." in text_of(driver, "#done")
        assert not driver.find_elements(By.ID, "paused-banner")
    with app.app_context():
        assert not DMEmail.outbox.paused
        assert DMEmail.outbox.get(bad).status == "queued"  # type: ignore[union-attr]
