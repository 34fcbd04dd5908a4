"""Hostile bodies over real HTTP: every body, however malformed, gets a JSON answer below
500 (a healthy hook), and only a well-formed permanent-failure receipt reaches the hook
that deactivates a user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_dm_email.testing import serve_app

from .conftest import ADDRESS, TOKEN, CallbackApp, make_complaint, make_receipt

RECEIPTS = "/callbacks/notify"
COMPLAINTS = "/callbacks/notify/complaints"


@pytest.fixture
def served(callbacks: CallbackApp) -> Iterator[tuple[CallbackApp, str, requests.Session]]:
    with serve_app(callbacks.app) as url, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        session.headers["Content-Type"] = "application/json"
        yield callbacks, url, session


def post(served: tuple[CallbackApp, str, requests.Session], path: str, body: bytes) -> requests.Response:
    _, url, session = served
    return session.post(url + path, data=body, timeout=10)


def assert_json_refusal(response: requests.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text[:200]
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    return body


@pytest.mark.parametrize("path", [RECEIPTS, COMPLAINTS])
def test_a_lone_surrogate_in_to_is_a_json_400(served: Any, path: str) -> None:
    document = make_receipt(status="permanent-failure") if path == RECEIPTS else make_complaint()
    raw = json.dumps(document).replace(json.dumps(ADDRESS), '"\\ud800@x.gov.uk"').encode()
    assert_json_refusal(post(served, path, raw))
    assert served[0].hook_calls == []


@pytest.mark.parametrize("field", ["id", "template_id"])
def test_a_uuid_with_a_trailing_newline_is_refused(served: Any, field: str) -> None:
    receipt = make_receipt(status="permanent-failure")
    receipt[field] += "\n"
    body = assert_json_refusal(post(served, RECEIPTS, json.dumps(receipt).encode()))
    assert field in body["errors"]
    assert served[0].hook_calls == []
    assert served[0].user().active


@pytest.mark.parametrize("to", ["x" * 60_000, "not an address", "a@b", f"{ADDRESS}\n{ADDRESS}", 42])
def test_a_permanent_failure_for_something_that_is_not_an_address_deactivates_nobody(served: Any, to: Any) -> None:
    receipt = make_receipt(status="permanent-failure", to=to)
    assert_json_refusal(post(served, RECEIPTS, json.dumps(receipt).encode()))
    assert served[0].hook_calls == []


def test_a_repeated_status_key_deactivates_nobody(served: Any) -> None:
    receipt = make_receipt(status="delivered")
    raw = json.dumps(receipt)[:-1] + ', "status": "permanent-failure"}'
    body = assert_json_refusal(post(served, RECEIPTS, raw.encode()))
    assert "repeats the key 'status'" in body["message"]
    assert served[0].hook_calls == []
    assert served[0].user().active


def test_a_well_formed_permanent_failure_still_deactivates(served: Any) -> None:
    response = post(served, RECEIPTS, json.dumps(make_receipt(status="permanent-failure")).encode())
    assert response.status_code == 200
    assert served[0].hook_calls == [ADDRESS]
    assert not served[0].user().active


def test_unknown_statuses_and_extra_fields_are_still_accepted(served: Any) -> None:
    receipt = make_receipt(status="some-future-status", new_field={"x": [1, 2]})
    assert post(served, RECEIPTS, json.dumps(receipt).encode()).status_code == 200


# -- fuzz -----------------------------------------------------------------------------

hostile_strings = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec=None, categories=["Cs", "Co", "Cn", "Cf", "Zs"]), max_size=10),
    st.sampled_from(["\ud800", "\udfff@x.gov.uk", "a@b.gov.uk\n", "\x00", "x" * 70_000, "\u202e", "ｅ@ｅ.ｃｏｍ"]),
)
leaves = st.none() | st.booleans() | st.integers() | st.floats() | hostile_strings
values = st.recursive(
    leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
)


def dumps(value: Any) -> str:
    """JSON with lone surrogates escaped (as a hostile client would send them)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


def mutated(document: dict[str, Any]) -> st.SearchStrategy[str]:
    keys = list(document)
    return st.tuples(
        st.sets(st.sampled_from(keys)),
        st.dictionaries(st.sampled_from(keys), values, max_size=3),
        st.lists(st.tuples(st.sampled_from(keys), values), max_size=2),
    ).map(
        lambda t: dumps({**{k: v for k, v in document.items() if k not in t[0]}, **t[1]})[:-1]
        + "".join(f", {dumps(k)}: {dumps(v)}" for k, v in t[2])
        + "}"
    )


hostile_bodies = st.one_of(
    mutated(make_receipt(status="permanent-failure")),
    mutated(make_complaint()),
    values.map(dumps),
    st.integers(1, 100_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 100_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([RECEIPTS, COMPLAINTS]), body=hostile_bodies)
def test_no_body_gets_a_5xx_or_a_non_json_answer(served: Any, path: str, body: str) -> None:
    callbacks = served[0]
    calls_before = len(callbacks.hook_calls)
    response = post(served, path, body.encode("utf-8", "surrogatepass"))
    assert response.status_code < 500, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    response.json()
    if len(callbacks.hook_calls) > calls_before:
        # Only a receipt whose every field is well formed may reach the deactivation hook.
        receipt = json.loads(body)
        assert receipt["status"] == "permanent-failure" and receipt["to"] == ADDRESS


def test_a_lone_surrogate_in_the_reference_is_not_a_500_with_the_outbox_on(served: Any) -> None:
    """Found by the fuzz below: the outbox's look-up of the receipt's row raised."""
    raw = json.dumps(make_receipt(status="delivered", reference="x")).replace('"x"', '"\\udc00"').encode()
    response = post(served, RECEIPTS, raw)
    assert response.status_code == 200
