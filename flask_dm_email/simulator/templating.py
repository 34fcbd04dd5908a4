"""Notify's template language: ``((placeholders))``, conditionals and subjects.

Produces the *Markdown source* with values filled in (what the API returns as
``body``); :mod:`.markdown` turns that into HTML for the inbox and previews.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
_TRUTHY = {"yes", "y", "true", "t", "1", "include", "show"}
_HYPHEN_BETWEEN_SPACES = re.compile(r"(?<=\s)-{1,2}(?=\s)")


def insensitive_key(name: str) -> str:
    """Notify matches personalisation keys ignoring case, spaces, ``_`` and ``-``."""
    return "".join(char for char in name.lower() if char not in " _-")


def _placeholder_name(inner: str) -> str:
    return inner.split("??", 1)[0].strip()


def placeholder_names(*texts: str) -> list[str]:
    """Placeholder names in order of first appearance (subject first), deduplicated."""
    seen: dict[str, str] = {}
    for text in texts:
        for match in _PLACEHOLDER.finditer(text):
            name = _placeholder_name(match.group(1))
            seen.setdefault(insensitive_key(name), name)
    return list(seen.values())


def lookup_values(personalisation: Mapping[str, Any]) -> dict[str, Any]:
    """Index personalisation by insensitive key; the last spelling wins, as in Notify."""
    return {insensitive_key(key): value for key, value in personalisation.items()}


def missing_personalisation(values: Mapping[str, Any], *texts: str) -> list[str]:
    """Names with no value; ``None`` counts as missing, an empty string does not."""
    return [name for name in placeholder_names(*texts) if values.get(insensitive_key(name)) is None]


def _format_value(value: Any) -> str:
    # Lists become Markdown bullet lists, as Notify renders them in emails.
    if isinstance(value, list):
        items = [str(item) for item in value if item is not None and str(item) != ""]
        if not items:
            return ""
        if len(items) == 1:
            return items[0]
        return "\n\n" + "\n".join(f"* {item}" for item in items) + "\n"
    return str(value)


def fill(text: str, values: Mapping[str, Any]) -> str:
    """Replace every placeholder whose value is present; leave the others as they are."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        name = _placeholder_name(inner)
        value = values.get(insensitive_key(name))
        if value is None:
            return match.group(0)
        if "??" in inner:
            shown = str(value).strip().lower() in _TRUTHY
            return inner.split("??", 1)[1] if shown else ""
        return _format_value(value)

    return _PLACEHOLDER.sub(replace, text)


def smart_quotes(text: str) -> str:
    """Curl straight quotes the way a typographer would (opening after space or start)."""
    result: list[str] = []
    for index, char in enumerate(text):
        previous = text[index - 1] if index else " "
        opening = previous.isspace() or previous in "([{\u2018\u201c"
        if char == "'":
            result.append("\u2018" if opening else "\u2019")
        elif char == '"':
            result.append("\u201c" if opening else "\u201d")
        else:
            result.append(char)
    return "".join(result)


def render_subject(subject: str, values: Mapping[str, Any]) -> str:
    """Fill a subject and normalise it as Notify does: whitespace, quotes, en dashes."""
    filled = " ".join(fill(subject, values).split())
    return _HYPHEN_BETWEEN_SPACES.sub("\u2013", smart_quotes(filled))


def render_body(body: str, values: Mapping[str, Any]) -> str:
    """Fill a body; the result is the Markdown source, stripped."""
    return fill(body, values).strip()


def personalisation_schema(texts: Iterable[str]) -> dict[str, dict[str, bool]]:
    """The ``personalisation`` member of Notify's template responses."""
    return {name: {"required": True} for name in placeholder_names(*texts)}
