"""The email HTML: what the preview's ``html`` and the inbox show is what Notify sends.

Every expected string below is what notifications-utils' ``html_body`` produced
for the same template and personalisation (its mistune-based renderer and
typography), pinned here byte for byte.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from notifications_python_client import NotificationsAPIClient

from flask_dm_email.simulator import SimulatorServer

P = '<p style="Margin: 0 0 20px 0; font-size: 19px; line-height: 25px; color: #0B0C0C;">{}</p>'
H2 = ('<h2 style="Margin: 0 0 15px 0; padding: 10px 0 0 0; font-size: 27px; line-height: 35px; font-weight: bold; '
      'color: #0B0C0C;">{}</h2>')
H3 = ('<h3 style="Margin: 0 0 15px 0; padding: 10px 0 0 0; font-size: 19px; line-height: 25px; font-weight: bold; '
      'color: #0B0C0C;">{}</h3>')
LIST = ('<table role="presentation" style="padding: 0 0 20px 0;"><tr><td style="font-family: Helvetica, Arial, '
        'sans-serif;"><{tag} style="Margin: 0 0 0 20px; padding: 0; list-style-type: {style};">{items}</{tag}>'
        "</td></tr></table>")
LI = '<li style="Margin: 5px 0 5px; padding: 0 0 0 5px; font-size: 19px;line-height: 25px; color: #0B0C0C;">{}</li>'
INSET = ('<div style="Margin: 0 0 20px 0;"><blockquote style="Margin: 0; border-left: 10px solid #B1B4B6;padding: 15px '
         '0 0.1px 15px; font-size: 19px; line-height: 25px;">{}</blockquote></div>')
HR = '<hr style="border: 0; height: 1px; background: #B1B4B6; Margin: 30px 0 30px 0;">'
A = '<a style="word-wrap: break-word; color: #1D70B8;" href="{}">{}</a>'


def ul(*items: str) -> str:
    return LIST.format(tag="ul", style="disc", items="".join(LI.format(item) for item in items))


def ol(*items: str) -> str:
    return LIST.format(tag="ol", style="decimal", items="".join(LI.format(item) for item in items))


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("Hello\nthere", {}, P.format("Hello<br>there")),
    ("# Title\n\n## Sub", {}, H2.format("Title") + H3.format("Sub")),
    ("### Small", {}, P.format("Small")),
    ("Title\n---\n\nIt's \"quoted\" - visit GOV.UK", {},
     H3.format("Title") + P.format("It\u2019s \u201cquoted\u201d \u2013 visit GOV.\u200bUK")),
    ("- a\n- b", {}, ul("a", "b")),
    ("\u2022 a", {}, ul("a")),
    ("1. a\n2. b", {}, ol("a", "b")),
    ("* a\n\n* b\n\nAfter", {}, ul(P.format(" a"), P.format(" b")) + P.format("After")),
    ("  1. one\n  2. two\n     * nested", {}, ol("one", "two" + ul("nested"))),
    ("-5 degrees and 1.5 million", {}, ul("5 degrees and 1.5 million")),
    ("Para\n* a\n* b", {}, P.format("Para") + ul("a", "b")),
    ("Para\n^ not inset", {}, P.format("Para<br>^ not inset")),
    ("^ inset\n^ more", {}, INSET.format(P.format("inset<br>more"))),
    ("***", {}, HR),
    ("see www.gov.uk.", {}, P.format("see www.gov.uk.")),
    ("<b>&</b>", {}, P.format("&lt;b&gt;&amp;&lt;/b&gt;")),
    ("[x](javascript:alert(1))", {}, P.format(A.format("http://javascript:alert%281", "x") + ")")),
    ("a\\-b \\[c\\]", {}, P.format("a-b [c]")),
    ('https://x.gov.uk/?a="b"', {},
     P.format(A.format("https://x.gov.uk/?a=%22b", 'https://x.gov.uk/?a="b') + "\u201d")),
    ("[Apply][form] now\n\n[form]: https://example.gov.uk/form \"The form\"", {},
     P.format('<a style="word-wrap: break-word; color: #1D70B8;" href="https://example.gov.uk/form" title="The form">'
              "Apply</a> now")),
    ("Email a@b.com's team, it's 'done' -- 'quoted'", {},
     P.format("Email a@b.com's team, it\u2019s \u2018done\u2019 \u2013 \u2018quoted\u2019")),
    ("    code 'x'\n\nafter", {}, "code \u2018x\u2019\n\n" + P.format("after")),
    ("a | b\n--|--\n1 | 2\n\nafter", {}, P.format("after")),
    ("# Hi ((name))\n\n* <b>x</b>", {"name": "Ann & Bo"}, H2.format("Hi Ann &amp; Bo") + ul("&lt;b&gt;x&lt;/b&gt;")),
    ("Items:((items))\nNext", {"items": ["a", "b"]}, P.format("Items:") + ul("a", "b<br>Next")),
    ("((items))", {"items": ["a", "b", "c"]}, "<br>" + ul("a", "b", "c")),
]


@pytest.mark.parametrize(("body", "personalisation", "html"), CASES)
def test_the_preview_html_is_notifys(sim: SimulatorServer, client: NotificationsAPIClient, body: str,
                                     personalisation: dict[str, Any], html: str) -> None:
    template = sim.add_template(name="T", subject="S", body=body)
    assert client.post_template_preview(template, personalisation)["html"] == html


def test_the_inbox_shows_the_html_notify_sends(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="S", body="# Hi ((name))\n\n* <b>x</b>")
    sent = client.send_email_notification("a@example.com", template, {"name": "Ann & Bo"})
    expected = H2.format("Hi Ann &amp; Bo") + ul("&lt;b&gt;x&lt;/b&gt;")
    page = requests.get(f"{sim.url}/_simulator/inbox/{sent['id']}", timeout=5)
    assert expected in page.text
    one = requests.get(f"{sim.url}/_simulator/messages/{sent['id']}", timeout=5).json()
    assert one["html_body"] == expected
