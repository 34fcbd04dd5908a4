"""Who may use the status page and its actions, over real HTTP: the authorizer guards
every page and action, CSRF tokens are required (and say what was wrong), a missing
SECRET_KEY or outbox is explained instead of failing, and an app that protects every form
with Flask-WTF's CSRFProtect keeps working."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from flask_dm_email import DMEmail, queue_email
from flask_dm_email.testing import serve_app

from ..conftest import KEY, TEMPLATE_ID, TOKEN
from .conftest import KIM, SECRET, form_token, post_action

EMAIL = "00000000-0000-4000-8000-000000000000"


def _staging_app(authorizer: Callable[[Any], bool] | None, **config: Any) -> Flask:
    dm_email = DMEmail()
    if authorizer is not None:
        dm_email.status_page_authorizer(authorizer)
    app = Flask(__name__)
    app.config.update(DM_ENVIRONMENT="staging", DM_NOTIFY_KEY=KEY, DM_NOTIFY_CALLBACK_TOKEN=TOKEN,
                      DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={}, DM_EMAIL_LIMITER_URL="memory",
                      DM_NOTIFY_TEMPLATES={"welcome": TEMPLATE_ID}, DM_EMAIL_STATUS_PAGE=True,
                      SECRET_KEY=SECRET, **config)
    dm_email.init_app(app)
    return app


def _team_only(request: Any) -> bool:
    return bool(request.headers.get("X-Team") == "yes")


def _every_page_and_action(url: str, email_id: str, **kwargs: Any) -> dict[str, int]:
    pages = ["/", f"/emails/{email_id}", "/static/status.css", "/?status=queued", "/batches"]
    actions = ["/search", f"/emails/{email_id}/retry", f"/emails/{email_id}/cancel", "/pause", "/resume"]
    codes = {f"GET {p}": requests.get(f"{url}/_dm_email{p}", timeout=10, **kwargs).status_code for p in pages}
    codes.update({f"POST {a}": requests.post(f"{url}/_dm_email{a}", timeout=10, allow_redirects=False,
                                             **kwargs).status_code for a in actions})
    return codes


def test_the_authorizer_guards_every_page_and_every_action(tmp_path: Any) -> None:
    app = _staging_app(_team_only, DM_EMAIL_OUTBOX_URL=f"sqlite:///{tmp_path / 'o.sqlite3'}")
    hidden = _staging_app(lambda request: False, DM_EMAIL_OUTBOX_URL=f"sqlite:///{tmp_path / 'h.sqlite3'}",
                          DM_EMAIL_STATUS_PAGE_HIDDEN=True)
    with app.app_context():
        DMEmail.outbox.create_tables()
        email = queue_email(KIM, "welcome", {"name": "Kim"})
    with serve_app(app) as url, serve_app(hidden) as hidden_url:
        refused = _every_page_and_action(url, email.id)
        concealed = _every_page_and_action(hidden_url, email.id)
        team = requests.Session()
        team.headers["X-Team"] = "yes"
        allowed = {p: team.get(f"{url}/_dm_email{p}", timeout=10).status_code
                   for p in ("/", f"/emails/{email.id}", "/static/status.css")}
        cancelled = post_action(team, url, f"/_dm_email/emails/{email.id}", f"/_dm_email/emails/{email.id}/cancel")
    assert set(refused.values()) == {403}, refused
    assert set(concealed.values()) == {404}, concealed
    assert set(allowed.values()) == {200}, allowed
    assert cancelled.status_code == 303
    with app.app_context():
        assert DMEmail.outbox.get(email.id).status == "cancelled"  # type: ignore[union-attr]


def test_actions_without_a_valid_csrf_token_are_refused_with_a_message(page_app: Callable[..., Flask]) -> None:
    app = page_app()
    browser, other_browser = requests.Session(), requests.Session()
    with serve_app(app) as url:
        token = form_token(browser.get(f"{url}/_dm_email/", timeout=10).text)
        other_token = form_token(other_browser.get(f"{url}/_dm_email/", timeout=10).text)
        cookie = browser.cookies.get("dm_email_csrf")

        def pause(session: requests.Session, data: dict[str, str]) -> requests.Response:
            return session.post(f"{url}/_dm_email/pause", data=data, timeout=10, allow_redirects=False)

        answers = {
            "no token": pause(browser, {}),
            "a wrong token": pause(browser, {"dm_email_csrf": token[:-2] + "xx"}),
            "the cookie as the token": pause(browser, {"dm_email_csrf": cookie or ""}),
            "another browser's token": pause(browser, {"dm_email_csrf": other_token}),
            "no cookie": pause(requests.Session(), {"dm_email_csrf": token}),
        }
        with app.app_context():
            assert not DMEmail.outbox.paused
        accepted = pause(browser, {"dm_email_csrf": token})
    messages = {name: html.unescape(answer.text) for name, answer in answers.items()}
    assert {answer.status_code for answer in answers.values()} == {400}
    assert "The form has no CSRF token (dm_email_csrf)." in messages["no token"]
    assert "The form's CSRF token is not valid." in messages["a wrong token"]
    assert "The form's CSRF token is not valid." in messages["the cookie as the token"]
    assert "does not match your browser's cookie" in messages["another browser's token"]
    assert "Your browser sent no CSRF cookie (dm_email_csrf)" in messages["no cookie"]
    assert all("reload the page and try again" in message for message in messages.values())
    assert accepted.status_code == 303
    with app.app_context():
        assert DMEmail.outbox.paused


def test_the_csrf_cookie_is_scoped_to_the_page_and_hidden_from_scripts(page_app: Callable[..., Flask]) -> None:
    with serve_app(page_app()) as url:
        answer = requests.get(f"{url}/_dm_email/", timeout=10)
    cookie = answer.headers["Set-Cookie"]
    assert "dm_email_csrf=" in cookie and "Path=/_dm_email/" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_without_a_secret_key_the_page_works_and_the_actions_say_how_to_set_it(
    page_app: Callable[..., Flask],
) -> None:
    app = page_app(SECRET_KEY=None)
    with app.app_context():
        email = queue_email(KIM, "welcome", {"name": "Kim"})
    with serve_app(app) as url:
        index = requests.get(f"{url}/_dm_email/", timeout=10)
        page = requests.get(f"{url}/_dm_email/emails/{email.id}", timeout=10)
        pause = requests.post(f"{url}/_dm_email/pause", data={"dm_email_csrf": "x"}, timeout=10)
    assert index.status_code == page.status_code == 200
    assert 'name="dm_email_csrf"' not in index.text + page.text
    assert "Actions need SECRET_KEY" in index.text
    assert "Set SECRET_KEY in the app" in html.unescape(page.text)
    assert pause.status_code == 400 and "Set SECRET_KEY in the app" in html.unescape(pause.text)


def test_an_app_without_an_outbox_or_its_tables_gets_a_page_that_says_so(tmp_path: Any) -> None:
    without = _staging_app(_team_only)
    no_tables = _staging_app(_team_only, DM_EMAIL_OUTBOX_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    team = {"X-Team": "yes"}
    with serve_app(without) as url, serve_app(no_tables) as no_tables_url:
        missing = requests.get(f"{url}/_dm_email/", headers=team, timeout=10)
        missing_pause = requests.post(f"{url}/_dm_email/pause", headers=team, timeout=10)
        unreadable = requests.get(f"{no_tables_url}/_dm_email/", headers=team, timeout=10)
        unreadable_email = requests.get(f"{no_tables_url}/_dm_email/emails/{EMAIL}", headers=team, timeout=10)
    assert missing.status_code == 404 and "set DM_EMAIL_OUTBOX_URL" in missing.text
    assert missing_pause.status_code == 400  # no token: refused before anything else
    for answer in (unreadable, unreadable_email):
        assert answer.status_code == 503
        assert "flask dm-email outbox create-tables" in answer.text and "SELECT" not in answer.text


@pytest.mark.parametrize("exempt", [False, True])
def test_an_app_that_protects_every_form_with_flask_wtf_can_still_use_the_actions(
    page_app: Callable[..., Flask], exempt: bool
) -> None:
    """The forms carry Flask-WTF's token too; exempting the blueprint works as well."""
    app = page_app()
    protect = CSRFProtect(app)
    if exempt:
        protect.exempt(app.blueprints["dm_email_ops"])
    browser = requests.Session()
    with serve_app(app) as url:
        paused = post_action_with_every_field(browser, url, "/_dm_email/pause")
        forged = browser.post(f"{url}/_dm_email/resume", data={"csrf_token": "x"}, timeout=10)
    assert paused.status_code == 303, paused.text
    assert forged.status_code == 400
    with app.app_context():
        assert DMEmail.outbox.paused


def post_action_with_every_field(session: requests.Session, url: str, action: str) -> requests.Response:
    """Submit the form for ``action`` with every hidden field it has, as a browser does."""
    page = session.get(f"{url}/_dm_email/", timeout=10).text
    form = re.search(rf'<form[^>]+action="{re.escape(action)}">(.*?)</form>', page, re.S)
    assert form, f"no form for {action}"
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    assert "dm_email_csrf" in fields
    return session.post(f"{url}{action}", data=fields, timeout=10, allow_redirects=False)
