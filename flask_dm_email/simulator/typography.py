"""Notify's "nice typography" for subjects and email HTML, and its HTML escaping.

notifications-utils runs every subject and email body through the same steps:
spaces before ``,`` and ``.`` go, straight quotes curl (SmartyPants rules, but
never inside ``<a>`` and the like), addresses keep straight apostrophes, and a
hyphen or dash with spaces round it becomes a spaced en dash. Implemented here
from those rules, independently of Notify's code.
"""

from __future__ import annotations

import html
import re

# -- HTML escaping of template text and values ---------------------------------------------

_KEPT_ENTITIES = (("&nbsp;", "\x00nbsp\x00"), ("&amp;", "\x00amp\x00"))
# Character references with their semicolon; Notify decodes only these.
_STRICT_CHARREF = re.compile(r"&(#[0-9]+;|#[xX][0-9a-fA-F]+;|[^\t\n\f <&#;]{1,32};)")


def escape_html(value: str) -> str:
    """Notify's ``escape_html``: decode strict entities, then escape ``& < >``, keeping ``&nbsp;``/``&amp;``."""
    if not value:
        return value
    for entity, stand_in in _KEPT_ENTITIES:
        value = value.replace(entity, stand_in)
    value = _STRICT_CHARREF.sub(lambda match: html.unescape(match.group(0)), value)
    value = html.escape(value, quote=False)
    for entity, stand_in in _KEPT_ENTITIES:
        value = value.replace(stand_in, entity)
    return value


# -- nice typography -----------------------------------------------------------------------

_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<![ \t])[ \t]+([,.])")
_SPACED_DASH = re.compile(r"(?<!\s)\s+[-\u2013\u2014]{1,3}\s+")
_ADDRESS_LIKE = re.compile(r"(^|\s)\S+@\S+(\s|$)", re.MULTILINE)
_TAG_SOUP = re.compile(r"([^<]*)(<!--.*?--\s*>|<[^>]*>)", re.DOTALL)
# Text inside these is left alone; the prefix match (``<a`` also matches ``<abbr``) is SmartyPants'.
_SKIPPED_TAG = re.compile(r"<(/)?(pre|samp|code|tt|kbd|script|style|math|a)[^>]*>", re.IGNORECASE)

_PUNCTUATION = r"""[!"#\$\%'()*+,-.\/:;<=>?\@\[\\\]\^_`{|}~]"""
_CLOSE_CONTEXT = r"[^\ \t\r\n\[\{\(\-]"
# SmartyPants' verbose pattern loses "&#8211;|&#8212;" to a "#" comment, leaving "&" glued to the
# hex alternative; this is the pattern it really compiles.
_OPEN_CONTEXT = r"(\s|&nbsp;|--|&[mn]dash;|&&\#x201[34];)"
_BACKSLASH_ESCAPES = (("\\\\", "&#92;"), ('\\"', "&#34;"), ("\\'", "&#39;"), ("\\.", "&#46;"), ("\\-", "&#45;"),
                      ("\\`", "&#96;"))
_QUOTE_RULES = [
    # A raw "\\B" in SmartyPants: punctuation then a literal backslash and B.
    (re.compile(rf"^'(?={_PUNCTUATION}\\B)"), "\u2019"),
    (re.compile(rf'^"(?={_PUNCTUATION}\\B)'), "\u201d"),
    (re.compile(r""""'(?=\w)"""), "\u201c\u2018"),
    (re.compile(r"""'"(?=\w)"""), "\u2018\u201c"),
    (re.compile(r"\b'(?=\d{2}s)"), "\u2019"),
    (re.compile(rf"{_OPEN_CONTEXT}'(?=\w)"), "\\1\u2018"),
    (re.compile(rf"({_CLOSE_CONTEXT})'(?!\s|s\b|\d)"), "\\1\u2019"),
    (re.compile(rf"({_CLOSE_CONTEXT})'(\s|s\b)"), "\\1\u2019\\2"),
    (re.compile("'"), "\u2018"),
    (re.compile(rf'{_OPEN_CONTEXT}"(?=\w)'), "\\1\u201c"),
    (re.compile(r'"(?=\s)'), "\u201d"),
    (re.compile(rf'^"(?={_PUNCTUATION})'), "\u201d"),
    (re.compile(rf'({_CLOSE_CONTEXT})"'), "\\1\u201d"),
    (re.compile('"'), "\u201c"),
]


def _curl(text: str, previous_last: str) -> str:
    for plain, entity in _BACKSLASH_ESCAPES:
        text = text.replace(plain, entity)
    if text in ("'", '"'):
        # A lone quote between tags: the text before the tag decides.
        closing = bool(previous_last) and not previous_last.isspace()
        if text == "'":
            return "\u2019" if closing else "\u2018"
        return "\u201d" if closing else "\u201c"
    for pattern, replacement in _QUOTE_RULES:
        text = pattern.sub(replacement, text)
    return text


def smart_quotes(value: str) -> str:
    """Curl straight quotes in text (and HTML text, skipping ``<a>``, ``<pre>``, ``<code>``...)."""
    parts: list[str] = []
    skipping: list[str] = []
    previous_last = ""
    position = 0
    tokens: list[tuple[bool, str]] = []
    # Text and tags from the start, one after another, as SmartyPants splits them (a "<" with no
    # tag after it ends the splitting: the rest is text).
    while match := _TAG_SOUP.match(value, position):
        if match.group(1):
            tokens.append((False, match.group(1)))
        tag = match.group(2)
        is_comment_text = tag.startswith("<!--") and "--" in tag[4:].rstrip(">").rstrip().rstrip("-")
        tokens.append((not is_comment_text, tag))
        position = match.end()
    if position < len(value):
        tokens.append((False, value[position:]))
    for is_tag, text in tokens:
        if is_tag:
            parts.append(text)
            skipped = _SKIPPED_TAG.match(text)
            if skipped and not skipped.group(1):
                skipping.append(skipped.group(2).lower())
            elif skipped and skipping and skipping[-1] == skipped.group(2).lower():
                skipping.pop()
            continue
        parts.append(text if skipping else _curl(text, previous_last))
        previous_last = text[-1:]
    return "".join(parts)


def _straighten_addresses(value: str) -> str:
    def straighten(match: re.Match[str]) -> str:
        return match.group(0).replace("\u2018", "'").replace("\u2019", "'")

    return _ADDRESS_LIKE.sub(straighten, value)


def nice_typography(value: str) -> str:
    """Notify's ``do_nice_typography``: punctuation spacing, curly quotes, en dashes."""
    value = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", value)
    value = _straighten_addresses(smart_quotes(value))
    return _SPACED_DASH.sub(" \u2013 ", value)


_OBSCURE_FULL_WIDTH = "\u00a0\u202f"
_OBSCURE_ZERO_WIDTH = "\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"


def normalise_whitespace(value: str) -> str:
    """Notify's subject whitespace: obscure spaces become spaces, zero-width ones go, runs collapse."""
    for char in _OBSCURE_FULL_WIDTH:
        value = value.replace(char, " ")
    for char in _OBSCURE_ZERO_WIDTH:
        value = value.replace(char, "")
    return " ".join(value.split())
