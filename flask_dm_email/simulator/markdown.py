"""Notify's email Markdown, rendered to the same HTML Notify sends.

notifications-utils renders email bodies with mistune 0.8 and its own grammar
changes and inline-styled HTML. This module is an independent implementation
of that behaviour for what Notify documents and people use: paragraphs with
hard line breaks, ``#``/``##`` headings (and underlined ones), ``*``/``-``/``•``
and ``1.`` lists (mistune's tight and loose items, and its quirks, such as a
bullet needing no space after it), ``^`` inset text, horizontal rules, links,
bare URLs, backslash escapes, indented and fenced code (shown as plain text)
tables (dropped, as Notify drops them) and link definitions (``[key]: url``,
used by ``[text][key]`` and ``[key]``). Footnotes are not supported. The input
is already HTML-escaped (see :mod:`.email_html`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

# -- block grammar ------------------------------------------------------------------------

_NEWLINES = re.compile(r"^\n+")
_HRULE = re.compile(r"^ {0,3}[-*_](?: *[-*_]){2,} *(?:\n+|$)")
_INDENTED_CODE = re.compile(r"^( {4}[^\n]+\n*)+")
_FENCES = re.compile(r"^ *(`{3,}|~{3,}) *([^`\s]+)? *\n([\s\S]+?)\s*\1 *(?:\n+|$)")
_HEADING = re.compile(r"^ *(#{1,6}) *([^\n]+?) *#* *(?:\n+|$)")
_UNDERLINED_HEADING = re.compile(r"^([^\n]+)\n *(=|-)+ *(?:\n+|$)")
_BARE_TABLE = re.compile(r"^ *(\S.*\|.*)\n *([-:]+ *\|[-| :]*)\n((?:.*\|.*(?:\n|$))*)\n*")
_TABLE = re.compile(r"^ *\|(.+)\n *\|( *[-:]+[-| :]*)\n((?: *\|.*(?:\n|$))*)\n*")
_INSET = re.compile(r"^( *\^[^\n]+(\n[^\n]+)*\n*)+")
_INSET_MARK = re.compile(r"^ *\^ ?", re.MULTILINE)
_DEF_LINK_RULE = re.compile(r"^ *\[([^^\]]+)\]: *<?([^\s>]+)>?(?: +[\"(]([^\n]+)[\")])? *(?:\n+|$)")
_DEF_LINK = r" *\[([^^\]]+)\]: *<?([^\s>]+)>?(?: +[\"(]([^\n]+)[\")])? *(?:\n+|$)"
_DEF_FOOTNOTE = r"\[\^([^\]]+)\]: *([^\n]*(?:\n+|$)(?: {1,}[^\n]*(?:\n+|$))*)"
_BULLET = r"(?:[\u2022*-]|\d+\.)"
_LIST = re.compile(
    rf"^( *)({_BULLET})[\s\S]+?"
    r"(?:\n+(?=\1?(?:[-*_] *){3,}(?:\n+|$))"
    rf"|\n+(?={_DEF_LINK})"
    rf"|\n+(?={_DEF_FOOTNOTE})"
    rf"|\n{{2,}}(?! )(?!\1{_BULLET} )\n*"
    r"|\s*$)"
)
_LIST_ITEM = re.compile(rf"^(( *){_BULLET}[^\n]*(?:\n(?!\2{_BULLET})[^\n]*)*)", re.MULTILINE)
_LIST_MARK = re.compile(rf"^ *{_BULLET}")
_LOOSE = re.compile(r"\n\n(?!\s*$)")
# A paragraph ends where another block starts, judged by mistune's original grammar, in which
# a list needs a space after its bullet, "•" is no bullet and inset text is not recognised.
_PARAGRAPH_ENDS = "|".join([
    r" *(`{3,}|~{3,}) *(?:[^`\s]+)? *\n(?:[\s\S]+?)\s*\2 *(?:\n+|$)",
    r" *(?:[*+-]\d+\.|[*+-]|\d+\.) [\s\S]",
    r" {0,3}[-*_](?: *[-*_]){2,} *(?:\n+|$)",
    r" *(?:#{1,6}) *(?:[^\n]+?) *#* *(?:\n+|$)",
    r"(?:[^\n]+)\n *(?:=|-)+ *(?:\n+|$)",
    _DEF_LINK,
    _DEF_FOOTNOTE,
])
_PARAGRAPH = re.compile(rf"^((?:[^\n]+\n?(?!{_PARAGRAPH_ENDS}))+)\n*")
_TEXT = re.compile(r"^[^\n]+")
_MAX_NESTING = 6


@dataclass
class _Block:
    """One block: a paragraph, heading, list (of items), inset, rule, code, table or text line."""

    kind: str
    text: str = ""
    level: int = 0
    ordered: bool = False
    loose: bool = False
    children: list[_Block] = field(default_factory=list)


def _link_key(text: str) -> str:
    return re.sub(r"\s+", " ", _escape(text.lower()).replace('"', "&quot;").replace("'", "&#39;"))


class _BlockParser:
    """mistune's block lexer as Notify configures it: rules tried in its order, list items re-parsed."""

    def __init__(self) -> None:
        self.lists = 0
        self.insets = 0
        self.links: dict[str, tuple[str, str | None]] = {}

    def parse(self, text: str, in_list: bool = False) -> list[_Block]:
        blocks: list[_Block] = []
        text = text.rstrip("\n")
        while text:
            consumed = self._one(text, blocks, in_list)
            text = text[consumed:]
        return blocks

    def _one(self, text: str, blocks: list[_Block], in_list: bool) -> int:
        if match := _NEWLINES.match(text):
            if len(match.group(0)) > 1:
                blocks.append(_Block("newline"))
            return match.end()
        if not in_list and (match := _HRULE.match(text)):
            blocks.append(_Block("hrule"))
            return match.end()
        if match := _INDENTED_CODE.match(text):
            blocks.append(_Block("code", re.sub(r"^ {4}", "", match.group(0), flags=re.MULTILINE)))
            return match.end()
        if match := _FENCES.match(text):
            blocks.append(_Block("code", match.group(3)))
            return match.end()
        if not in_list and (match := _HEADING.match(text)):
            blocks.append(_Block("heading", match.group(2), level=len(match.group(1))))
            return match.end()
        if not in_list and (match := _BARE_TABLE.match(text)):
            blocks.append(_Block("table"))
            return match.end()
        if match := _UNDERLINED_HEADING.match(text):
            blocks.append(_Block("heading", match.group(1), level=1 if match.group(2) == "=" else 2))
            return match.end()
        if in_list and (match := _HRULE.match(text)):
            blocks.append(_Block("hrule"))
            return match.end()
        if match := _INSET.match(text):
            blocks.append(self._inset(match.group(0)))
            return match.end()
        if match := _LIST.match(text):
            blocks.append(self._list(match))
            return match.end()
        if not in_list and (match := _DEF_LINK_RULE.match(text)):
            self.links[_link_key(match.group(1))] = (match.group(2), match.group(3))
            return match.end()
        if not in_list and (match := _TABLE.match(text)):
            blocks.append(_Block("table"))
            return match.end()
        if not in_list and (match := _PARAGRAPH.match(text)):
            blocks.append(_Block("paragraph", match.group(1).rstrip("\n")))
            return match.end()
        match = _TEXT.match(text)
        if match is None:  # pragma: no cover - every non-empty text starts a line or a newline
            raise AssertionError(f"no Markdown rule matches {text[:20]!r}")
        blocks.append(_Block("text", match.group(0)))
        return match.end()

    def _inset(self, captured: str) -> _Block:
        self.insets += 1
        try:
            if self.insets > _MAX_NESTING:
                return _Block("inset", children=[_Block("text", captured)])
            return _Block("inset", children=self.parse(_INSET_MARK.sub("", captured)))
        finally:
            self.insets -= 1

    def _list(self, match: re.Match[str]) -> _Block:
        block = _Block("list", ordered="." in match.group(2))
        self.lists += 1
        try:
            if self.lists > _MAX_NESTING:
                block.children = [_Block("item", children=[_Block("text", match.group(0))])]
                return block
            items = [found[0] for found in _LIST_ITEM.findall(match.group(0))]
            after_blank = False
            for index, item in enumerate(items):
                width = len(item)
                item = _LIST_MARK.sub("", item, count=1)
                if "\n " in item:
                    item = re.sub(rf"^ {{1,{width - len(item)}}}", "", item, flags=re.MULTILINE)
                loose = after_blank or bool(_LOOSE.search(item))
                if index != len(items) - 1 and item:
                    after_blank = item.endswith("\n")
                    loose = loose or after_blank
                block.children.append(_Block("item", loose=loose, children=self.parse(item, in_list=True)))
            return block
        finally:
            self.lists -= 1


# -- inline grammar ---------------------------------------------------------------------------

# Matched at a position (``pattern.match(text, pos)``), so no "^" anchors.
_ESCAPE = re.compile(r"\\([\\`*{}\[\]()#+\-.!_>~|])")
_URL = re.compile(r"""(https?://[^\s<]+[^<.,:"')\]\s])""")
_LINK = re.compile(
    r"!?\[((?:\[[^^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*)\]\("
    r"""\s*(<)?([\s\S]*?)(?(2)>)(?:\s+['"]([\s\S]*?)['"])?\s*\)"""
)
_REF_LINK = re.compile(r"!?\[((?:\[[^^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*)\]\s*\[([^^\]]*)\]")
_NO_LINK = re.compile(r"!?\[((?:\[[^\]]*\]|[^\[\]])*)\]")
_LINE_BREAK = re.compile(r" *\n(?!\s*$)")
_PLAIN_STOPS = re.compile(r"[\\<!\[_*`~\n]|https?://")
#: Failed link attempts allowed per block before "[" is taken as plain text: each rescans the
#: rest of the block, so a flood of brackets would otherwise take quadratic time.
MAX_FAILED_LINKS = 200
_LONE_AMPERSAND = re.compile(r"&(?!#?\w+;)")

_Links = dict[str, tuple[str, str | None]]
LINK_STYLE = "word-wrap: break-word; color: #1D70B8;"
_PROTOCOLS = ("ftp:", "file:", "http:", "https:", "mailto:", "tel:")


def _escape(text: str) -> str:
    return _LONE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def _anchor(url: str, text: str, title: str | None = None) -> str:
    text = text or url
    href = url if url.lower().startswith(_PROTOCOLS) else f"http://{url}"
    title_attribute = f' title="{title}"' if title else ""
    return f'<a style="{LINK_STYLE}" href="{quote(href, safe=":/?#=&;%")}"{title_attribute}>{text}</a>'


def _link_to(match: re.Match[str], url: str, title: str | None, links: _Links) -> str:
    if match.group(0).startswith("!"):
        return ""  # images are dropped
    return _anchor(url, inline(match.group(1), links, in_link=True), title)


def _plain_end(text: str, pos: int) -> int:
    """Where plain text starting at ``pos`` ends: at the next character or URL another rule might take.

    Equivalent to mistune's lazy ``[\\s\\S]+?(?=...| *\\n|$)`` but linear: a run of
    spaces only stops plain text if a newline ends it.
    """
    found = _PLAIN_STOPS.search(text, pos + 1)
    if found is None:
        return len(text)
    end = found.start()
    if text[end] == "\n":
        # Spaces before a newline belong to the line break.
        while end - 1 > pos and text[end - 1] == " ":
            end -= 1
    return end


class _LinkFinder:
    """Finds links in one block's text, skipping attempts that cannot succeed.

    The link patterns rescan the rest of the text from every "[": they are only
    tried where a "](" and a ")" still follow, and at most :data:`MAX_FAILED_LINKS`
    times in vain, so a flood of brackets cannot take quadratic time.
    """

    def __init__(self, text: str, links: _Links) -> None:
        self.text = text
        self.links = links
        self.next_opening = text.find("](")
        self.last_closing = text.rfind(")")
        self.failures = 0

    def _could_link(self, pos: int) -> bool:
        # Positions only move forward, so finding the next "](" stays linear overall.
        if 0 <= self.next_opening <= pos:
            self.next_opening = self.text.find("](", pos + 1)
        return self.next_opening > pos and self.last_closing > self.next_opening

    def at(self, pos: int) -> tuple[re.Match[str], str] | None:
        """A ``[text](url)``, ``[text][key]`` or ``[key]`` link at ``pos``, rendered."""
        text, links = self.text, self.links
        if not text.startswith(("[", "!["), pos) or self.failures >= MAX_FAILED_LINKS:
            return None
        if self._could_link(pos):
            if match := _LINK.match(text, pos):
                return match, _link_to(match, match.group(3), match.group(4), links)
            self.failures += 1
        if not links:
            return None  # references only count when their key is defined; otherwise they are plain text
        for pattern, key_group in ((_REF_LINK, 2), (_NO_LINK, 1)):
            match = pattern.match(text, pos)
            if match and (defined := links.get(_link_key(match.group(key_group) or match.group(1)))):
                return match, _link_to(match, defined[0], defined[1], links)
        self.failures += 1
        return None


def inline(text: str, links: _Links, in_link: bool = False) -> str:
    """Render one block's text: escapes, links, bare URLs and hard line breaks."""
    text = text.rstrip("\n")
    finder = _LinkFinder(text, links)
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        match: re.Match[str] | None
        if match := _ESCAPE.match(text, pos):
            parts.append(_escape(match.group(1)))
        elif match := _URL.match(text, pos):
            parts.append(_escape(match.group(1)) if in_link else _anchor(match.group(1), match.group(1)))
        elif linked := finder.at(pos):
            match, html = linked
            parts.append(html)
        elif match := _LINE_BREAK.match(text, pos):
            parts.append("<br>")
        else:
            end = _plain_end(text, pos)
            parts.append(_escape(text[pos:end]))
            pos = end
            continue
        pos = match.end()
    return "".join(parts)


# -- Notify's email renderer ---------------------------------------------------------------------

_P = '<p style="Margin: 0 0 20px 0; font-size: 19px; line-height: 25px; color: #0B0C0C;">{}</p>'
_H2 = ('<h2 style="Margin: 0 0 15px 0; padding: 10px 0 0 0; font-size: 27px; line-height: 35px; '
       'font-weight: bold; color: #0B0C0C;">{}</h2>')
_H3 = ('<h3 style="Margin: 0 0 15px 0; padding: 10px 0 0 0; font-size: 19px; line-height: 25px; '
       'font-weight: bold; color: #0B0C0C;">{}</h3>')
_HR = '<hr style="border: 0; height: 1px; background: #B1B4B6; Margin: 30px 0 30px 0;">'
_LIST_HTML = ('<table role="presentation" style="padding: 0 0 20px 0;"><tr>'
              '<td style="font-family: Helvetica, Arial, sans-serif;">'
              '<{tag} style="Margin: 0 0 0 20px; padding: 0; list-style-type: {style};">{body}</{tag}>'
              "</td></tr></table>")
_LI = ('<li style="Margin: 5px 0 5px; padding: 0 0 0 5px; font-size: 19px;line-height: 25px; '
       'color: #0B0C0C;">{}</li>')
_INSET_HTML = ('<div style="Margin: 0 0 20px 0;"><blockquote style="Margin: 0; border-left: 10px solid #B1B4B6;'
               'padding: 15px 0 0.1px 15px; font-size: 19px; line-height: 25px;">{}</blockquote></div>')


def _paragraph(html: str) -> str:
    return _P.format(html) if html.strip() else ""


def _render(blocks: list[_Block], links: _Links, *, tight: bool = False) -> str:
    parts: list[str] = []
    index = 0
    while index < len(blocks):
        block = blocks[index]
        if block.kind == "text":
            # Consecutive lines of text are one run, joined by line breaks.
            lines = [block.text]
            while index + 1 < len(blocks) and blocks[index + 1].kind == "text":
                index += 1
                lines.append(blocks[index].text)
            html = inline("\n".join(lines), links)
            parts.append(html if tight else _paragraph(html))
        else:
            parts.append(_render_block(block, links))
        index += 1
    return "".join(parts)


def _render_block(block: _Block, links: _Links) -> str:
    if block.kind == "paragraph":
        return _paragraph(inline(block.text, links))
    if block.kind == "heading":
        html = inline(block.text, links)
        return _H2.format(html) if block.level == 1 else _H3.format(html) if block.level == 2 else _paragraph(html)
    if block.kind == "hrule":
        return _HR
    if block.kind == "newline":
        return "<br>"
    if block.kind == "code":
        return block.text
    if block.kind == "inset":
        return _INSET_HTML.format(_render(block.children, links))
    if block.kind == "list":
        body = "".join(_LI.format(_render(item.children, links, tight=not item.loose).strip())
                       for item in block.children)
        tag, style = ("ol", "decimal") if block.ordered else ("ul", "disc")
        return _LIST_HTML.format(tag=tag, style=style, body=body)
    return ""  # tables


def render_markdown(text: str) -> str:
    """Render HTML-escaped Markdown to Notify's inline-styled email HTML (before typography)."""
    text = re.sub(r"\r\n|\r", "\n", text).expandtabs(4).replace("\u2424", "\n")
    text = re.sub(r"^ +$", "", text, flags=re.MULTILINE)
    parser = _BlockParser()
    blocks = parser.parse(text)
    return _render(blocks, parser.links)
