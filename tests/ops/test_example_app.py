"""The quick start's promise: a newcomer running the example app on development finds the
status page linked from its layout, with their sign-up email and its timeline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..example_app.conftest import LiveExample, _live_example


@pytest.fixture
def example(tmp_path: Path) -> Iterator[LiveExample]:
    """The example app as ``flask run`` has it (embedded simulator and worker), over HTTP."""
    yield from _live_example(tmp_path)


def test_a_sign_up_email_is_on_the_status_page_with_its_timeline(example: LiveExample) -> None:
    example.submit("/signup", {"name": "Alex", "email": "alex.newcomer@example.com"})
    email = example.wait_for_status("alex.newcomer@example.com", "notify-delivered", timeout=20)
    home = requests.get(f"{example.url}/", timeout=10).text
    link = re.search(r'id="status-page-link" href="([^"]+)"', home)
    assert link, "the layout links to the status page"
    index = requests.get(f"{example.url}{link.group(1)}", timeout=10)
    page = requests.get(f"{example.url}/_dm_email/emails/{email.id}", timeout=10)
    assert index.status_code == page.status_code == 200
    assert f'id="email-{email.id}"' in index.text and "welcome" in index.text
    timeline = page.text[page.text.index('id="timeline"'):]
    assert timeline.index(">queued<") < timeline.index(">sent<") < timeline.index(">receipt<")
    for text in (index.text, page.text):
        assert "alex.newcomer" not in text and "@example.com" not in text
