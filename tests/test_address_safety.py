"""The product's main safety promise: on a non-production stage, no spelling of a
redirected domain escapes the redirect, and no spelling of another domain slips through
the allow-list.

Notify validates hostnames with Python's IDNA 2003 codec, which folds full-width and
mathematical letters, other full stops, soft hyphens, variation selectors and combining
joiners onto the plain ASCII domain, and then delivers there. The oracle below reads a
domain as Notify does (and as UTS #46 mail systems do) independently of the package, and
every generated variant goes through the real ``send_email`` path on every stage.
"""

from __future__ import annotations

import contextlib
import string
import unicodedata
from collections.abc import Iterator

import idna
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_dm_email import EmailInvalidError, RecipientNotAllowedError, send_email
from flask_dm_email.backends import MemoryBackend
from flask_dm_email.extension import get_state

from .conftest import KEY, TEMPLATE_ID, TOKEN

SAFE = "success@simulator.amazonses.com"
# Keys as a team would write them: plain, upper case, a punycode key, the Unicode form of
# a punycode key, and a key whose Unicode spelling IDNA 2003 and 2008 read differently.
REDIRECT_KEYS = {
    "example.com": SAFE,
    "USER.Marketplace.Team": SAFE,
    "xn--bcher-kva.example": SAFE,
    "münchen.example": SAFE,
    "xn--strae-oqa.de": SAFE,
}
# The domains those keys mean, in the form variants are generated from.
REDIRECTED = ["example.com", "user.marketplace.team", "bücher.example", "münchen.example", "straße.de"]
IGNORABLE = [
    "\u00ad", "\u034f", "\u1806", "\u180b", "\u180c", "\u180d", "\u180e", "\u200b", "\u200c",
    "\u200d", "\u2060", "\ufeff", *map(chr, range(0xFE00, 0xFE10)),
]  # fmt: skip
FULL_STOPS = [".", "\u3002", "\uff0e", "\uff61"]


def _equivalents() -> dict[str, list[str]]:
    """Every code point whose compatibility form, case-folded, is an ASCII letter or digit."""
    table: dict[str, list[str]] = {c: [c, c.upper()] for c in string.ascii_lowercase + string.digits}
    for cp in [*range(0x80, 0x3400), *range(0xF900, 0x10000), *range(0x1D400, 0x1D800), *range(0x1F100, 0x1F200)]:
        ch = chr(cp)
        folded = unicodedata.normalize("NFKC", ch).casefold()
        if folded in table and ch not in table[folded]:
            table[folded].append(ch)
    return table


EQUIVALENTS = _equivalents()


# notifications-utils removes these from anywhere in an address before it reads it.
NOTIFY_REMOVES = "\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u00a0\u202f"


def notify_readings(hostname: str) -> set[str]:
    """Where an email to ``hostname`` may go: the oracle, written apart from the package."""
    for ch in NOTIFY_REMOVES:
        hostname = hostname.replace(ch, "")
    hostname = hostname.strip(string.whitespace)
    readings = set()
    with contextlib.suppress(UnicodeError):
        readings.add(hostname.encode("idna").decode("ascii").lower())
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
        readings.add(idna.encode(hostname, uts46=True).decode("ascii").lower())
    return readings


FOLDED_KEYS = {r for key in REDIRECT_KEYS for r in notify_readings(key)}


@st.composite
def spellings(draw: st.DrawFn, domain: str) -> str:
    """A spelling of ``domain`` that Notify may fold back onto it."""
    decomposed = draw(st.booleans())
    base = unicodedata.normalize("NFD", domain) if decomposed else domain
    out = []
    for ch in base:
        if ch == ".":
            out.append(draw(st.sampled_from(FULL_STOPS)))
        elif ch in EQUIVALENTS:
            out.append(draw(st.sampled_from(EQUIVALENTS[ch])))
        else:
            out.append(ch)
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(IGNORABLE)))
    return "".join(out)


local_parts = st.text(alphabet=string.ascii_letters + string.digits + ".+_-", min_size=1, max_size=12).filter(
    lambda s: ".." not in s and not s.startswith(".") and not s.endswith(".")
)
redirected_addresses = st.builds(
    lambda local, host: f"{local}@{host}", local_parts, st.sampled_from(REDIRECTED).flatmap(spellings)
)


def live_app(stage: str, **config: object) -> Flask:
    """An app on ``stage`` whose backend keeps what it would send (nothing leaves)."""
    app = Flask(__name__)
    base = {"DM_ENVIRONMENT": stage, "DM_NOTIFY_TEMPLATES": {"welcome": TEMPLATE_ID}}
    if stage in ("preview", "staging", "production"):
        base |= {"DM_NOTIFY_KEY": KEY, "DM_NOTIFY_CALLBACK_TOKEN": TOKEN, "DM_EMAIL_LIMITER_URL": "memory"}
    else:
        base["DM_EMAIL_BACKEND"] = "memory"
    app.config.update(base | config)
    from flask_dm_email import DMEmail

    DMEmail(app)
    get_state(app).backend = MemoryBackend()  # capture instead of calling Notify
    return app


@pytest.fixture(params=["development", "test", "preview", "staging", "production"])
def redirect_app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    app = live_app(request.param, DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS=REDIRECT_KEYS)
    with app.app_context():
        yield app


def sent_to(app: Flask, address: str) -> str | None:
    """The recipient the backend was handed, or None when the send was refused."""
    backend = get_state(app).backend
    assert isinstance(backend, MemoryBackend)
    backend.clear()
    try:
        send_email(address, "welcome")
    except (EmailInvalidError, RecipientNotAllowedError):
        return None
    (email,) = backend.sent
    return email.to


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=redirected_addresses)
def test_no_spelling_of_a_redirected_domain_escapes(redirect_app: Flask, address: str) -> None:
    recipient = sent_to(redirect_app, address)
    hostname = address.rpartition("@")[2]
    if notify_readings(hostname) & FOLDED_KEYS:
        assert recipient in (None, SAFE), f"escaped: {address.encode('unicode_escape')!r}"


@pytest.mark.parametrize(
    "host",
    [
        "ｅｘａｍｐｌｅ.com",  # full-width letters
        "example。com",  # ideographic full stop
        "exam\u00adple.com",  # soft hyphen
        "example\ufe0f.com",  # variation selector
        "exa\u034fmple.com",  # combining grapheme joiner
        "EXAMPLE.COM",
        "𝐞𝐱𝐚𝐦𝐩𝐥𝐞.com",  # mathematical bold
        "bücher.example",  # Unicode form of a punycode key
        "bu\u0308cher.example",  # ... decomposed
        "xn--mnchen-3ya.example",  # punycode form of a Unicode key
        "straße.de",  # ambiguous, and one reading is redirected
    ],
)
def test_the_reported_escapes_are_redirected(redirect_app: Flask, host: str) -> None:
    assert sent_to(redirect_app, f"someone@{host}") == SAFE


@pytest.mark.parametrize("stage", ["development", "test", "preview", "staging"])
@pytest.mark.parametrize("host", ["straße.example", "a\u03c2.example", "\u2603.example"])
def test_ambiguous_domains_are_refused_off_production(stage: str, host: str) -> None:
    app = live_app(stage, DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS={})
    with app.app_context():
        assert sent_to(app, f"someone@{host}") is None


def test_production_sends_to_an_unambiguous_idn_domain() -> None:
    app = live_app("production")
    with app.app_context():
        assert sent_to(app, "info@german-financial-services.vermögensberatung") == (
            "info@german-financial-services.vermögensberatung"
        )


ALLOWED = ["@gov.uk", "Named.Person@Digital.Cabinet-Office.gov.uk"]
any_host = st.one_of(
    st.sampled_from(["gov.uk", "digital.cabinet-office.gov.uk", "example.com", "evil.gov.uk.example"]).flatmap(
        spellings
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20),
)


@pytest.fixture(params=["development", "test", "preview", "staging"])
def allow_list_app(request: pytest.FixtureRequest) -> Iterator[Flask]:
    config: dict[str, object] = {"DM_NOTIFY_ALLOWED_RECIPIENTS": ALLOWED}
    if request.param in ("preview", "staging"):
        config["DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"] = {}
    app = live_app(request.param, **config)
    with app.app_context():
        yield app


def _allowed(local: str, host: str) -> bool:
    readings = notify_readings(host)
    return bool(readings) and all(
        r == "gov.uk" or f"{local.lower()}@{r}" == "named.person@digital.cabinet-office.gov.uk" for r in readings
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(local=st.sampled_from(["named.person", "Named.Person", "someone"]), host=any_host)
def test_nothing_outside_the_allow_list_gets_through(allow_list_app: Flask, local: str, host: str) -> None:
    recipient = sent_to(allow_list_app, f"{local}@{host}")
    if recipient is not None:
        assert _allowed(local, host), f"escaped: {host.encode('unicode_escape')!r}"


@pytest.mark.parametrize("host", ["ｇｏｖ.uk", "gov。uk", "go\u00adv.uk"])
def test_spellings_of_an_allowed_domain_are_allowed(allow_list_app: Flask, host: str) -> None:
    assert sent_to(allow_list_app, f"someone@{host}") == f"someone@{host}"
