"""Notify's template language: ``((placeholders))``, conditionals and subjects.

Produces the *Markdown source* with values filled in (what the API returns as
``body``); :mod:`.email_html` turns a template into the HTML Notify sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .typography import nice_typography, normalise_whitespace

_PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
_TRUTHY = {"yes", "y", "true", "t", "1", "include", "show"}


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


# What Notify strips from each list item (``strip_and_remove_obscure_whitespace``).
_OBSCURE_WHITESPACE = "\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u00a0\u202f"
_EDGE_WHITESPACE = " \t\n\r\x0b\x0c"


def _list_items(value: list[Any]) -> list[str]:
    items = []
    for item in value:
        if item is None:
            continue
        text = str(item)
        for char in _OBSCURE_WHITESPACE:
            text = text.replace(char, "")
        text = text.strip(_EDGE_WHITESPACE)
        if text:
            items.append(text)
    return items


def joined_list(items: list[str]) -> str:
    """Notify's prose list: ``a``, ``a and b``, ``a, b and c``."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _format_value(value: Any, markdown_lists: bool) -> str:
    if not isinstance(value, list):
        return str(value)
    items = _list_items(value)
    if not items:
        return ""
    if markdown_lists:
        # A bulleted list after a blank line, even for one item; what follows the
        # placeholder carries on straight after the last item, as in Notify.
        return "\n\n" + "\n".join(f"* {item}" for item in items)
    return joined_list(items)


def _shows_conditional(value: Any) -> bool:
    # Notify's str2bool: falsy values hide, else the text as given (unstripped) decides.
    return bool(value) and str(value).lower() in _TRUTHY


def fill(text: str, values: Mapping[str, Any], *, markdown_lists: bool = True,
         escape: Callable[[str], str] = str) -> str:
    """Replace every placeholder whose value is present; leave the others as they are.

    Lists become Markdown bullets in bodies (``markdown_lists``) and "a, b and c"
    in subjects. ``escape`` is applied to each value put in (not to conditional text).
    """

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        name = _placeholder_name(inner)
        value = values.get(insensitive_key(name))
        if value is None:
            return match.group(0)
        if "??" in inner:
            return inner.split("??", 1)[1] if _shows_conditional(value) else ""
        return escape(_format_value(value, markdown_lists))

    return _PLACEHOLDER.sub(replace, text)


def render_subject(subject: str, values: Mapping[str, Any]) -> str:
    """Fill a subject and normalise it as Notify does: quotes, en dashes, then whitespace."""
    return normalise_whitespace(nice_typography(fill(subject, values, markdown_lists=False)))


def render_body(body: str, values: Mapping[str, Any]) -> str:
    """Fill a body; the result is the Markdown source, stripped."""
    return fill(body, values).strip()


def listing_body(body: str, personalisation: Mapping[str, Any]) -> str:
    """A stand-in template's body: its own text, then one line per personalisation value sent.

    Made from the app's ``DM_NOTIFY_TEMPLATES`` (names and ids only), a stand-in cannot know
    the real template's placeholders, so it shows whatever the app sends: a developer sees
    every value in the inbox, and no personalisation is ever "missing".
    """
    names = [name for name in personalisation if _PLACEHOLDER.fullmatch(f"(({name}))")]
    if not names:
        return f"{body}\n\nThis email was sent with no personalisation."
    lines = "\n".join(f"* {name}: (({name}))" for name in names)
    return f"{body}\n\nPersonalisation sent with this email:\n\n{lines}"


def personalisation_schema(texts: Iterable[str]) -> dict[str, dict[str, bool]]:
    """The ``personalisation`` member of Notify's template responses."""
    return {name: {"required": True} for name in placeholder_names(*texts)}
