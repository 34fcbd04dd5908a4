"""The shipped OpenAPI document describes the blueprint, and thousands of generated
bodies and headers never get a 5xx (with a healthy hook) or a non-JSON reply."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import NEW_TOKEN, TOKEN, CallbackApp, make_complaint, make_receipt

SPEC: dict[str, Any] = json.loads(files("flask_dm_email").joinpath("openapi.json").read_text())
SCHEMAS = SPEC["components"]["schemas"]


def schema(name: str) -> dict[str, Any]:
    """A component schema, with its $refs resolvable."""
    return {**SCHEMAS[name], "components": SPEC["components"]}


def check_response(path: str, response: Any) -> None:
    documented = SPEC["paths"][path]["post"]["responses"]
    assert str(response.status_code) in documented, response.status_code
    body = json.loads(response.get_data(as_text=True))  # always JSON
    ref = documented[str(response.status_code)]["content"]["application/json"]["schema"]["$ref"]
    jsonschema.validate(body, schema(ref.rsplit("/", 1)[1]))


def test_the_document_is_openapi_3_1_and_lists_the_blueprints_routes(callbacks: CallbackApp) -> None:
    assert SPEC["openapi"] == "3.1.0"
    rules = {
        r.rule.removeprefix("/callbacks") for r in callbacks.app.url_map.iter_rules() if r.rule.startswith("/callbacks")
    }
    assert rules == set(SPEC["paths"])


def test_notifys_payloads_match_the_documented_schemas() -> None:
    jsonschema.validate(make_receipt(), schema("DeliveryReceipt"))
    jsonschema.validate(make_complaint(), schema("Complaint"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def mutated(document: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Start from a valid document; drop, retype or add fields."""
    keys = list(document)
    return st.tuples(
        st.sets(st.sampled_from(keys)),
        st.dictionaries(st.sampled_from(keys), json_values, max_size=3),
        st.dictionaries(st.text(max_size=10), json_values, max_size=2),
    ).map(
        lambda t: {**{k: v for k, v in document.items() if k not in t[0]}, **t[1], **t[2]},
    )


bodies = st.one_of(
    mutated(make_receipt(status="permanent-failure")).map(json.dumps),
    mutated(make_receipt()).map(json.dumps),
    mutated(make_complaint()).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=200),
    st.text(max_size=200),
)
authorization = st.one_of(
    st.none(),
    st.just(f"Bearer {TOKEN}"),
    st.just(f"bearer {NEW_TOKEN}"),
    # Any header value an HTTP client can send (no line breaks, latin-1).
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
    st.just(f"Bearer {TOKEN}").map(lambda s: s + " "),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/notify", "/notify/complaints"]),
    body=bodies,
    auth=authorization,
    content_type=content_types,
)
def test_fuzzed_requests_never_get_a_5xx_and_always_get_json(
    callbacks: CallbackApp, path: str, body: Any, auth: str | None, content_type: str
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    if content_type:
        headers["Content-Type"] = content_type
    response = callbacks.client.post(f"/callbacks{path}", data=body, headers=headers)
    assert response.status_code < 500
    assert response.mimetype == "application/json"
    check_response(path, response)
