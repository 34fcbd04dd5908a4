"""Config fuzzing: whatever a team puts in its config or environment, ``init_app``
either accepts it or refuses it with EmailConfigError naming the key — never another
exception, and never echoing a value."""

from __future__ import annotations

from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_dm_email import DMEmail, EmailConfigError
from flask_dm_email.keys import DM_DOTENV_PATH, DM_NOTIFY_API_KEY, KEYS

from .conftest import KEY, TEMPLATE_ID, TOKEN

MARKER = "zq8SECRETzq8"  # planted in generated values; must never appear in a message
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=30).map(lambda s: s + MARKER),
    st.just(MARKER),
    st.lists(st.text(max_size=10).map(lambda s: s + MARKER), max_size=3),
    st.dictionaries(st.text(max_size=10), st.text(max_size=10).map(lambda s: s + MARKER), max_size=3),
)
plausible = {
    "DM_ENVIRONMENT": st.sampled_from(["development", "local", "test", "preview", "staging", "production", "prod"]),
    "DM_NOTIFY_KEY": st.sampled_from([KEY, KEY[:-1], f"x{MARKER}-{KEY}"]),
    "DM_NOTIFY_TEMPLATES": st.sampled_from([{"a": TEMPLATE_ID}, f"a={TEMPLATE_ID}", f"a={MARKER}"]),
    "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": st.sampled_from(
        [{}, "{}", "example.com=a@gov.uk", f"example.com={MARKER}@x", f"{MARKER}"]
    ),
    "DM_NOTIFY_CALLBACK_TOKEN": st.sampled_from([TOKEN, f"{TOKEN},{TOKEN}2", MARKER[:5]]),
    "DM_EMAIL_BACKEND": st.sampled_from(["notify", "log", "memory", "smtp"]),
}
configs = st.dictionaries(
    st.sampled_from([*KEYS, DM_NOTIFY_API_KEY]),
    st.one_of(junk, st.just(None)),
    max_size=6,
).flatmap(
    lambda base: st.fixed_dictionaries({k: v for k, v in plausible.items() if k not in base}).map(
        lambda extra: {**base, **extra}
    )
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs)
def test_any_config_is_accepted_or_refused_by_key(config: dict[str, Any]) -> None:
    app = Flask(__name__)
    app.config.update(config)
    app.config[DM_DOTENV_PATH] = "/nonexistent/.env"
    try:
        DMEmail(app)
    except EmailConfigError as error:
        assert error.problems
        for key, message in error.problems:
            assert key in KEYS, key
            assert MARKER not in message and MARKER[:5] not in message
            assert KEY[-36:] not in message and TOKEN not in message
        assert MARKER not in str(error)
