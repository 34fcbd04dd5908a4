"""``sanitise_content_for``: neutralise links and Markdown in chosen personalisation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .templating import insensitive_key

# A URL or bare domain as Notify's formatter finds one: optional scheme, one or
# more labels ending in a dot, a TLD, then an optional path, query or fragment.
_URL = re.compile(
    r"\b(?<![@.])(?:https?://)?(?:[\w\-]+\.)+[a-z]{2,63}(?!@)\b(?:[/?#][^<\s]*)?",
    re.IGNORECASE,
)
_LOOKS_ACCIDENTAL = re.compile(r"[a-zA-Z0-9.\-]+")
_MARKDOWN_CHARACTERS = "\\`*_(){}[]<>#+-.!|"


def _neutralise_url(match: re.Match[str]) -> str:
    text = match.group(0)
    # "Marie.Curie" is probably not meant as a link: keep it but stop it linking.
    if _LOOKS_ACCIDENTAL.fullmatch(text):
        return text.replace(".", ". ")
    return ""


def sanitise_value(value: str) -> str:
    """Remove links and backslash-escape Markdown characters in one value."""
    without_links = _URL.sub(_neutralise_url, value)
    return "".join("\\" + char if char in _MARKDOWN_CHARACTERS else char for char in without_links)


def sanitise_personalisation(
    personalisation: dict[str, Any], keys: Iterable[Any]
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Sanitise the listed keys; return the new personalisation and what changed.

    A non-string value in a listed key raises ``TypeError`` (a 500 in Notify too).
    """
    wanted = {insensitive_key(str(key)) for key in keys}
    result = dict(personalisation)
    changed: dict[str, dict[str, str]] = {}
    for key, value in personalisation.items():
        if insensitive_key(key) not in wanted or value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(f"cannot sanitise a {type(value).__name__} value")
        sanitised = sanitise_value(value)
        if sanitised != value:
            result[key] = sanitised
            changed[key] = {"sanitised": sanitised, "unsanitised": value}
    return result, changed
