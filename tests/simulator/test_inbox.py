"""The inbox pages, their JSON views and the Markdown renderer."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests
from notifications_python_client import NotificationsAPIClient

from flask_dm_email.simulator import SimulatorServer

from .helpers import token_for


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


class Cells(HTMLParser):
    """Rows of the inbox table, and the attributes of every tag."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.attributes: list[tuple[str, dict[str, str | None]]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes.append((tag, dict(attrs)))
        if tag == "tr" and dict(attrs).get("class") == "message":
            self.rows.append([])
        elif tag == "td" and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_a_long_reference_is_cut_in_the_list_and_whole_on_hover(sim: SimulatorServer,
                                                                client: NotificationsAPIClient,
                                                                template_id: str) -> None:
    reference = "order-" + "x" * 300
    sent = client.send_email_notification("a@example.com", template_id, {"name": "A"}, reference=reference)
    page = Cells(requests.get(f"{sim.url}/_simulator/inbox", timeout=5).text)
    [row] = page.rows
    assert reference not in row[3] and "order-xxx" in row[3] and row[3].endswith("\u2026")
    assert ("span", {"class": "hint reference", "title": reference}) in page.attributes
    assert reference in requests.get(f"{sim.url}/_simulator/inbox/{sent['id']}", timeout=5).text


def test_times_read_as_people_write_them_with_the_iso_time_on_hover(sim: SimulatorServer,
                                                                    client: NotificationsAPIClient,
                                                                    template_id: str) -> None:
    sent = client.send_email_notification("a@example.com", template_id, {"name": "A"})
    created = sim.message(sent["id"])["created_at"]  # type: ignore[index]
    listing = requests.get(f"{sim.url}/_simulator/inbox", timeout=5).text
    times = [attrs for tag, attrs in Cells(listing).attributes if tag == "time"]
    assert times == [{"datetime": created, "title": created}]
    human = re.search(r"<time[^>]*>([^<]*)</time>", listing)
    assert human is not None and created not in human.group(1)
    assert re.fullmatch(r"\d{1,2}:\d{2}:\d{2}(am|pm) on \d{1,2} [A-Z][a-z]+ \d{4}", human.group(1))
    page = requests.get(f"{sim.url}/_simulator/inbox/{sent['id']}", timeout=5).text
    assert f'title="{created}"' in page


def test_a_favicon_instead_of_a_404(sim: SimulatorServer) -> None:
    icon = requests.get(f"{sim.url}/favicon.ico", timeout=5)
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")
    links = [attrs for tag, attrs in Cells(requests.get(f"{sim.url}/_simulator/inbox", timeout=5).text).attributes
             if tag == "link" and attrs.get("rel") == "icon"]
    assert [requests.get(f"{sim.url}{attrs['href']}", timeout=5).status_code for attrs in links] == [200]


def test_the_inbox_pages_through_many_emails(sim: SimulatorServer, template_id: str) -> None:
    session = requests.Session()
    key = sim.api_key()
    for number in range(120):
        response = session.post(f"{sim.url}/v2/notifications/email", timeout=5,
                                headers={"Authorization": f"Bearer {token_for(key)}"},
                                json={"email_address": "a@example.com", "template_id": template_id,
                                      "personalisation": {"name": f"N{number:03}"}})
        assert response.status_code == 201

    def page(query: str) -> tuple[list[str], str]:
        html = session.get(f"{sim.url}/_simulator/inbox{query}", timeout=5).text
        return [row[1].split(" ")[1] for row in Cells(html).rows], html

    first, html = page("")
    assert first == [f"N{number:03}" for number in range(119, 69, -1)]
    assert "Showing 1 to 50 of 120 emails" in html and 'rel="next"' in html and 'rel="prev"' not in html
    last, html = page("?page=3")
    assert last == [f"N{number:03}" for number in range(19, -1, -1)]
    assert "Showing 101 to 120 of 120 emails" in html and 'rel="next"' not in html and 'rel="prev"' in html
    assert page("?page=99")[0] == last
    assert page("?page=nope")[0] == first
