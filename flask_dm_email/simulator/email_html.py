"""The HTML body of an email, as Notify renders it for sending and for previews.

Notify's steps (notifications-utils' ``html_body``): the template and each
value are HTML-escaped and filled in (lists as Markdown bullets), "GOV.UK" is
kept from becoming a link, two invisible characters are removed, the Markdown
is rendered to inline-styled HTML, then quotes and dashes are made typographic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .markdown import render_markdown
from .templating import fill, insensitive_key
from .typography import escape_html, nice_typography

# "GOV.UK" (not followed by a path) gets a zero-width space so mail clients do not link it.
_GOV_UK = re.compile(r"(^|\s)(#|\*|\^)?(GOV)\.(UK)(?!/|\?|#)", re.IGNORECASE)


def render_html_body(content: str, personalisation: Mapping[str, Any]) -> str:
    """The HTML Notify puts in the email for template body ``content`` with ``personalisation``."""
    values = {insensitive_key(escape_html(str(key))): value for key, value in personalisation.items()}
    markdown = fill(escape_html(content) or "", values, markdown_lists=True, escape=escape_html)
    markdown = _GOV_UK.sub("\\1\\2\\3.\u200b\\4", markdown)
    markdown = markdown.replace("\u2028", "").replace("\u3164", "") + "\n"
    return nice_typography(render_markdown(markdown))
