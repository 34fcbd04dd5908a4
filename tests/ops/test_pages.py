"""The status page over real HTTP: what it lists, the timeline, search (an address is
searched by its hash and never shown), bad input, and the actions behind CSRF tokens."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import requests
from flask import Flask

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.hashing import hash_string
from flask_dm_email.testing import serve_app

from ..conftest import TOKEN
from .conftest import ALEX, KIM, delivered_and_failed, post_action

PRIVATE = ("@gov.uk", "alex.delivered", "kim.failed", "Alex")


def no_address_in(*pages: str) -> None:
    for page in pages:
        for private in PRIVATE:
            assert private not in page


def test_the_page_lists_a_delivered_and_a_failed_email_and_their_timelines_without_an_address(
    page_app: Callable[..., Flask], sim: Any
) -> None:
    app = page_app(DM_NOTIFY_CALLBACK_TOKEN=TOKEN)
    good, bad = delivered_and_failed(app, sim)
    with app.app_context():
        notify_id = DMEmail.outbox.get(good).notify_id  # type: ignore[union-attr]
    with serve_app(app) as url:
        # The recipient marks the delivered email as spam: Notify calls back with a complaint.
        sim.set_callbacks(complaint=(f"{url}/callbacks/notify/complaints", TOKEN))
        sim.trigger_complaint(notify_id)
        sim.wait_for_callbacks(1, kind="complaint")
        index = requests.get(f"{url}/_dm_email/", timeout=10)
        good_page = requests.get(f"{url}/_dm_email/emails/{good}", timeout=10)
        bad_page = requests.get(f"{url}/_dm_email/emails/{bad}", timeout=10)
    assert index.status_code == good_page.status_code == bad_page.status_code == 200
    page = index.text
    assert f'id="email-{good}"' in page and f'id="email-{bad}"' in page
    assert 'id="count-notify-delivered">1<' in page and 'id="count-failed-send-to-notify">1<' in page
    assert "Showing 1 to 2 of 2 emails" in page
    assert "<td>Delivered</td><td class=\"number\">1</td><td class=\"number\">100.0%</td>" in page
    assert "<td>Complaint</td><td class=\"number\">1</td><td class=\"number\">100.0%</td>" in page
    assert ">complaint<" in good_page.text
    # The timelines, oldest event first; the hashed address, never the address.
    assert good_page.text.index(">queued<") < good_page.text.index(">sent<") < good_page.text.index(">poll<")
    assert hash_string(ALEX) in good_page.text and "user:7" in good_page.text
    assert ">failed<" in bad_page.text and "BadRequestError" in bad_page.text
    assert 'id="retry"' in bad_page.text and 'id="retry"' not in good_page.text
    no_address_in(page, good_page.text, bad_page.text)


def test_a_typed_address_is_searched_by_its_hash_and_never_shown_or_put_in_a_url(
    page_app: Callable[..., Flask], sim: Any
) -> None:
    app = page_app()
    good, bad = delivered_and_failed(app, sim)
    with serve_app(app) as url:
        # Typed with capitals and spaces around it, as a person pastes it.
        found = requests.post(f"{url}/_dm_email/search", data={"address": "  Alex.Delivered@GOV.UK "}, timeout=10)
        redirect = unquote(found.history[0].headers["Location"])
        by_link = requests.get(f"{url}/_dm_email/", params={"link": "user:8"}, timeout=10)
        by_status = requests.get(f"{url}/_dm_email/", params={"status": "notify-delivered"}, timeout=10)
        by_template = requests.get(f"{url}/_dm_email/", params={"template": "welcome"}, timeout=10)
        by_id = requests.get(f"{url}/_dm_email/", params={"reference": bad}, timeout=10)
        nothing = requests.get(f"{url}/_dm_email/", params={"reference": "no-such-reference"}, timeout=10)
    assert found.status_code == 200 and "Showing 1 to 1 of 1 emails" in found.text
    assert f'id="email-{good}"' in found.text and f'id="email-{bad}"' not in found.text
    assert hash_string(ALEX) in redirect and "gov" not in redirect.lower()
    no_address_in(found.text, redirect)
    for page, wanted, other in ((by_link, bad, good), (by_status, good, bad), (by_id, bad, good)):
        assert page.status_code == 200
        assert f'id="email-{wanted}"' in page.text and f'id="email-{other}"' not in page.text
    assert f'id="email-{good}"' in by_template.text and f'id="email-{bad}"' in by_template.text
    assert "No email matches this search." in nothing.text


def test_bad_search_input_is_named_with_its_fix_and_never_a_500(page_app: Callable[..., Flask], sim: Any) -> None:
    app = page_app()
    with app.app_context():
        queue_email(KIM, "welcome", {"name": "Kim"})
    cases = {
        "status=sending": "Status must be one of the statuses in the list",
        "link=user": "Link must be written type:id, for example user:42.",
        "page=abc": "Page must be a whole number from 1 to 10,000.",
        "page=0": "Page must be a whole number",
        "page=7": "There is no page 7: this search has 1 page(s).",
        "to_hash=abc": "The address hash in the link is damaged",
        "address=kim.failed%40gov.uk": "Search by address with the search form",
        "reference=" + "x" * 1001: "Reference must be at most 1000 characters.",
        "template=a%0Ab": "Template must be one line of text.",
    }
    with serve_app(app) as url:
        for query, message in cases.items():
            answer = requests.get(f"{url}/_dm_email/?{query}", timeout=10)
            assert answer.status_code == 400, query
            assert "There is a problem" in answer.text and message in html.unescape(answer.text), query
            no_address_in(answer.text)
        long_id = requests.get(f"{url}/_dm_email/emails/{'9' * 400}", timeout=10)
        unknown = requests.get(f"{url}/_dm_email/emails/kim.failed@gov.uk", timeout=10)
    assert long_id.status_code == unknown.status_code == 404
    assert "No email with this id is in this app's outbox." in html.unescape(unknown.text)
    no_address_in(unknown.text)


def test_retry_cancel_pause_and_resume_through_the_forms(page_app: Callable[..., Flask], sim: Any) -> None:
    app = page_app()
    good, bad = delivered_and_failed(app, sim)
    with app.app_context():
        waiting = queue_email("lee@gov.uk", "welcome", {"name": "Lee"}, send_after=3600)
    browser = requests.Session()
    with serve_app(app) as url:
        retried = post_action(browser, url, f"/_dm_email/emails/{bad}", f"/_dm_email/emails/{bad}/retry")
        assert retried.status_code == 303
        after = browser.get(f"{url}{retried.headers['Location']}", timeout=10).text
        assert "The email is queued again." in after and "operator-retry" in after
        cancelled = post_action(browser, url, f"/_dm_email/emails/{waiting.id}",
                                f"/_dm_email/emails/{waiting.id}/cancel")
        assert cancelled.status_code == 303
        # A page loaded earlier may offer an action that no longer fits: an error summary.
        late = post_action(browser, url, "/_dm_email/", f"/_dm_email/emails/{good}/cancel")
        assert late.status_code == 409 and "There is a problem" in late.text
        assert "is notify-delivered, so it cannot be cancelled." in late.text
        paused = post_action(browser, url, "/_dm_email/", "/_dm_email/pause")
        paused_page = browser.get(f"{url}{paused.headers['Location']}", timeout=10).text
        with app.app_context():
            assert DMEmail.outbox.paused
            assert DMEmail.outbox.drain(timeout=5) == 0  # the retried email waits
        resumed = post_action(browser, url, "/_dm_email/", "/_dm_email/resume")
        resumed_page = browser.get(f"{url}{resumed.headers['Location']}", timeout=10).text
    assert "The outbox is paused</strong> (paused from the status page)" in paused_page and 'id="resume"' in paused_page
    assert "The outbox is running again." in resumed_page and 'id="pause"' in resumed_page
    with app.app_context():
        assert not DMEmail.outbox.paused
        assert DMEmail.outbox.get(bad).status == "queued"  # type: ignore[union-attr]
        assert DMEmail.outbox.get(waiting.id).status == "cancelled"  # type: ignore[union-attr]


def test_batches_show_their_progress_and_list_their_emails(page_app: Callable[..., Flask], sim: Any) -> None:
    app = page_app()
    with app.app_context():
        DMEmail.outbox.enqueue_many(
            [{"email_address": f"reader-{n}@gov.uk", "name": f"Reader {n}"} for n in range(3)],
            template="welcome", batch="autumn-newsletter",
        )
        DMEmail.outbox.enqueue_many([{"email_address": "late@gov.uk", "name": "Late"}], template="welcome",
                                    batch="waiting-batch")
        DMEmail.outbox.drain(timeout=20)
        DMEmail.outbox.enqueue_many([{"email_address": "later@gov.uk", "name": "Later"}], template="welcome",
                                    batch="waiting-batch")
        queue_email(KIM, "welcome", {"name": "Kim"})  # not in a batch
    with serve_app(app) as url:
        index = requests.get(f"{url}/_dm_email/", timeout=10).text
        progress = requests.get(f"{url}/_dm_email/batches", timeout=10).text
        listed = requests.get(f"{url}/_dm_email/", params={"batch": "autumn-newsletter"}, timeout=10).text
    assert 'href="/_dm_email/?batch=autumn-newsletter"' in index and 'href="/_dm_email/batches"' in index
    rows = {name: progress[progress.index(f'id="batch-{name}"'):].split("</tr>")[0]
            for name in ("autumn-newsletter", "waiting-batch")}
    cells = re.findall(r'<td class="number">([^<]*)</td>', rows["autumn-newsletter"])
    assert cells[:4] == ["3", "100%", "0", "0"] and "finished" in rows["autumn-newsletter"]
    assert re.findall(r'<td class="number">([^<]*)</td>', rows["waiting-batch"])[:3] == ["2", "50%", "1"]
    assert "Showing 1 to 3 of 3 emails" in listed and "batch autumn-newsletter" in listed
    no_address_in(index, progress, listed)
