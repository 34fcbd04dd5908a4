"""The inbox pages, their JSON views and the Markdown renderer."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import requests
from notifications_python_client import NotificationsAPIClient

from flask_dm_email.simulator import SimulatorServer


class Page(HTMLParser):
    """Collects tags and text of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


BODY = """# Your application

Dear ((name)),

* first point
* second point

1. one
2. two

^ Keep this safe.

---

Visit https://www.gov.uk/apply or [the service](https://example.gov.uk/start)."""


@pytest.fixture
def sent(sim: SimulatorServer, client: NotificationsAPIClient) -> str:
    template = sim.add_template(name="Application", subject="About ((name))", body=BODY)
    return str(client.send_email_notification("Reader@Example.com", template, {"name": "<script>x</script>"},
                                              reference="app-1")["id"])


def test_the_inbox_lists_messages_newest_first(sim: SimulatorServer, client: NotificationsAPIClient,
                                               sent: str) -> None:
    template = sim.add_template(name="Later", subject="Second subject", body="B")
    later = client.send_email_notification("other@example.com", template)
    response = requests.get(f"{sim.url}/_simulator/inbox", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    page = Page(response.text)
    text = page.all_text
    assert text.index("Second subject") < text.index("About <script>x</script>")
    assert "Reader@Example.com" in text and "app-1" in text and "Application" in text and "test" in text
    assert f"/_simulator/inbox/{sent}" in page.links and f"/_simulator/inbox/{later['id']}" in page.links
    assert "script" not in page.tags
    assert "<script>" not in response.text


def test_a_message_page_renders_the_email(sim: SimulatorServer, sent: str) -> None:
    sim.wait_for_status(sent, "delivered")
    response = requests.get(f"{sim.url}/_simulator/inbox/{sent}", timeout=5)
    page = Page(response.text)
    for tag in ("h2", "ul", "ol", "li", "blockquote", "hr", "a"):
        assert tag in page.tags
    assert "script" not in page.tags
    assert "https://www.gov.uk/apply" in page.links and "https://example.gov.uk/start" in page.links
    text = page.all_text
    assert "Dear <script>x</script>," in text
    assert "created" in text and "sending" in text and "delivered" in text
    assert "app-1" in text


def test_unknown_message_is_404(sim: SimulatorServer) -> None:
    assert requests.get(f"{sim.url}/_simulator/inbox/nope", timeout=5).status_code == 404


def test_json_views(sim: SimulatorServer, client: NotificationsAPIClient, sent: str, template_id: str) -> None:
    other = client.send_email_notification("else@example.com", template_id, {"name": "E"}, reference="r2")
    listed = requests.get(f"{sim.url}/_simulator/messages", timeout=5).json()["messages"]
    assert [item["id"] for item in listed] == [other["id"], sent]
    by_to = requests.get(f"{sim.url}/_simulator/messages", params={"to": "reader@example.com"}, timeout=5).json()
    assert [item["id"] for item in by_to["messages"]] == [sent]
    by_ref = requests.get(f"{sim.url}/_simulator/messages", params={"reference": "r2"}, timeout=5).json()
    assert [item["id"] for item in by_ref["messages"]] == [other["id"]]
    one = requests.get(f"{sim.url}/_simulator/messages/{sent}", timeout=5).json()
    assert one["subject"] == "About <script>x</script>"
    assert one["to"] == one["email_address"] == "Reader@Example.com"
    assert one["template"]["name"] == "Application" and one["key_type"] == "test"
    assert requests.get(f"{sim.url}/_simulator/messages/nope", timeout=5).status_code == 404
    assert sim.messages(to="READER@example.com")[0]["id"] == sent
