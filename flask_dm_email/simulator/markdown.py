"""The Markdown subset Notify renders in emails, as safe HTML.

Supported: paragraphs (single line breaks kept), ``#``/``##`` headings, ``*``,
``-`` and ``•`` bullet lists, ``1.`` numbered lists, ``^`` inset text, ``---``
horizontal rules, ``[text](url)`` links and bare URLs. Everything else is text,
HTML-escaped, so personalisation can never inject markup.
"""

from __future__ import annotations

import re
from html import escape

_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,})\s*$")
_HEADING = re.compile(r"^(#{1,2})\s+(.*)$")
_BULLET = re.compile(r"^\s*[*\-\u2022]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+\.\s+(.*)$")
_INSET = re.compile(r"^\^\s?(.*)$")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)|((?:https?://|www\.)[^\s<>\"]+)")
_ESCAPED = re.compile(r"\\([\\`*_(){}\[\]<>#+\-.!|])")
_TRAILING_PUNCTUATION = ".,;:!?)"


def _text(value: str) -> str:
    # Backslash escapes (e.g. from sanitise_content_for) show the bare character.
    return escape(_ESCAPED.sub(r"\1", value))


def _bare_link(url: str) -> str:
    trailing = ""
    while url and url[-1] in _TRAILING_PUNCTUATION:
        trailing = url[-1] + trailing
        url = url[:-1]
    href = url if url.startswith(("http://", "https://")) else f"http://{url}"
    return f'<a href="{escape(href)}">{escape(url)}</a>{escape(trailing)}'


def render_inline(value: str) -> str:
    """Escape text, turning Markdown links and bare URLs into ``<a>`` and newlines into ``<br>``."""
    parts: list[str] = []
    position = 0
    for match in _LINK.finditer(value):
        parts.append(_text(value[position : match.start()]))
        if match.group(1) is not None:
            parts.append(f'<a href="{escape(match.group(2))}">{_text(match.group(1))}</a>')
        else:
            parts.append(_bare_link(match.group(3)))
        position = match.end()
    parts.append(_text(value[position:]))
    return "<br>\n".join("".join(parts).split("\n"))


class _Blocks:
    """Collects output blocks; consecutive lines of one kind form one block."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.kind: str | None = None
        self.lines: list[str] = []

    def add(self, kind: str, line: str) -> None:
        if kind != self.kind:
            self.flush()
            self.kind = kind
        self.lines.append(line)

    def flush(self) -> None:
        if self.kind == "p":
            self.html.append(f"<p>{render_inline(chr(10).join(self.lines))}</p>")
        elif self.kind in ("ul", "ol"):
            items = "".join(f"<li>{render_inline(line)}</li>" for line in self.lines)
            self.html.append(f"<{self.kind}>{items}</{self.kind}>")
        elif self.kind == "inset":
            self.html.append(f'<blockquote class="inset">{render_inline(chr(10).join(self.lines))}</blockquote>')
        self.kind = None
        self.lines = []


def render_email_html(markdown: str) -> str:
    """Render an email body (Markdown source with values filled in) to an HTML fragment."""
    blocks = _Blocks()
    for line in markdown.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            blocks.flush()
        elif _RULE.match(line):
            blocks.flush()
            blocks.html.append("<hr>")
        elif heading := _HEADING.match(line):
            blocks.flush()
            level = len(heading.group(1)) + 1
            blocks.html.append(f"<h{level}>{render_inline(heading.group(2))}</h{level}>")
        elif bullet := _BULLET.match(line):
            blocks.add("ul", bullet.group(1))
        elif numbered := _NUMBERED.match(line):
            blocks.add("ol", numbered.group(1))
        elif inset := _INSET.match(line):
            blocks.add("inset", inset.group(1))
        else:
            blocks.add("p", line)
    blocks.flush()
    return "\n".join(blocks.html)
