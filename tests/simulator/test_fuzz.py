"""Fuzzing every endpoint over HTTP: whatever arrives, no 5xx and every error is JSON.

The only 500s allowed are the two Notify itself gives and the simulator copies
(NOTIFY_API.md §2.5 and the lone-surrogate case in docs/simulator.rst):
``TypeError`` when ``sanitise_content_for`` names a non-string value, and
``UnicodeEncodeError`` for a lone surrogate in a stored reference or the body.

Deliveries are an hour away and the fuzzed service has no callbacks, so nothing
the fuzz stores ever calls out; hypothesis keeps no example database on disk.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_dm_email.simulator import SimulatorServer

from .helpers import token_for

FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
FAITHFUL_500S = {"UnicodeEncodeError", "TypeError"}


class Target:
    """A running simulator with a service whose rate limit never gets in the way."""

    def __init__(self, sim: SimulatorServer) -> None:
        self.sim = sim
        self.session = requests.Session()
        service = sim.add_service(name="Fuzz", rate_limit=10**9, contact_link="https://example.gov.uk/contact",
                                  api_keys=[{"type": "test"}, {"type": "team"}, {"type": "normal"}])
        self.service_id = service["id"]
        self.keys = {item["type"]: item["key"] for item in service["api_keys"]}
        self.template = sim.add_template(self.service_id, name="T", subject="About ((topic))",
                                         body="Dear ((name)),\n\n* one\n\n((list))")
        self.quiet_service = sim.add_service(name="Never sends")["id"]
        self.notification = self.session.post(
            f"{sim.url}/v2/notifications/email", timeout=10, json=self.valid_email(),
            headers=self.auth("test")).json()["id"]

    def valid_email(self) -> dict[str, Any]:
        return {"email_address": "fuzz@example.com", "template_id": self.template,
                "personalisation": {"topic": "t", "name": "n", "list": ["a", "b"]}}

    def auth(self, key_type: str = "test") -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(self.keys[key_type])}"}

    def request(self, method: str, path: str, *, data: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        response = self.session.request(method, f"{self.sim.url}{path}", data=data, headers=headers or {},
                                        timeout=30)
        check(response, data)
        return response


def check(response: requests.Response, sent: bytes | str | None) -> None:
    """No 5xx (bar Notify's own), and every error body is JSON."""
    status = response.status_code
    if status >= 500:
        body = response.json()
        [error] = body["errors"]
        raw = sent.decode("utf-8", "replace") if isinstance(sent, bytes) else sent or ""
        faithful = error["error"] in FAITHFUL_500S and error["message"] == "Internal server error" and (
            SURROGATE_ESCAPE.search(raw) if error["error"] == "UnicodeEncodeError" else "sanitise_content_for" in raw)
        assert faithful, f"{response.request.method} {response.request.url}: {status} {response.text[:300]}"
    if status >= 400:
        assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
        response.json()


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with SimulatorServer(delivery_delay=3600, callback_retry_delay=3600) as sim:
        yield Target(sim)


# -- strategies ------------------------------------------------------------------------

LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800", "x\ud83d"])
TEXT = st.one_of(st.text(max_size=30), LONE_SURROGATES,
                 st.sampled_from(["", " ", "((name))", "https://example.com/ü", "a@b.co", "\x00", "💥" * 3,
                                  "00000000-0000-4000-8000-000000000000"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(TEXT, children, max_size=4), max_leaves=12)


def segment(text: str) -> str:
    """``text`` percent-encoded for a URL; lone surrogates become the invalid UTF-8 they would be."""
    return quote(text, safe="", errors="surrogatepass")


def encode(value: Any) -> str:
    # allow_nan: Python's json, like Notify's, accepts NaN and Infinity literals.
    return json.dumps(value)


@st.composite
def email_bodies(draw: st.DrawFn, valid: dict[str, Any]) -> str:
    body: dict[str, Any] = {}
    for name in ("email_address", "template_id", "personalisation", "reference", "email_reply_to_id",
                 "one_click_unsubscribe_url", "sanitise_content_for", "scheduled_for"):
        choice = draw(st.integers(0, 3))
        if choice == 1 and name in valid:
            body[name] = valid[name]
        elif choice == 2:
            body[name] = draw(JSON_VALUES)
        elif choice == 3 and name == "personalisation":
            body[name] = draw(st.dictionaries(st.sampled_from(["topic", "name", "list", "NAME", "file"]),
                                              JSON_VALUES, max_size=4))
    if draw(st.booleans()):
        body.update(draw(st.dictionaries(TEXT, JSON_VALUES, max_size=2)))
    return encode(body)


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(["", "{", "[" * 2000, '{"a":' * 2000, "null", "[]", "{}", "1e400", "NaN", '"\\ud800"',
                     '{"personalisation": {"x": "\\udfff"}}', "\ufeff{}", "{} {}"]),
    JSON_VALUES.map(encode),
)


# -- the v2 API ---------------------------------------------------------------------------


def test_post_email(target: Target) -> None:
    @FUZZ
    @given(body=st.one_of(email_bodies(target.valid_email()), RAW_BODIES),
           key_type=st.sampled_from(["test", "team", "normal"]))
    def run(body: str | bytes, key_type: str) -> None:
        target.request("POST", "/v2/notifications/email", data=body, headers=target.auth(key_type))

    run()


def test_post_other_notification_types(target: Target) -> None:
    @FUZZ
    @given(kind=st.one_of(st.sampled_from(["sms", "letter", "email", "precompiled-letter"]), TEXT),
           body=RAW_BODIES)
    def run(kind: str, body: str | bytes) -> None:
        target.request("POST", f"/v2/notifications/{segment(kind)}", data=body, headers=target.auth())

    run()


def test_preview(target: Target) -> None:
    @FUZZ
    @given(template=st.one_of(st.just(target.template), TEXT),
           body=st.one_of(RAW_BODIES, st.dictionaries(st.sampled_from(["personalisation", "x"]), JSON_VALUES)
                          .map(encode)))
    def run(template: str, body: str | bytes) -> None:
        target.request("POST", f"/v2/template/{segment(template)}/preview", data=body,
                       headers=target.auth())

    run()


QUERIES = st.lists(st.tuples(st.sampled_from(["status", "template_type", "reference", "older_than", "include_jobs",
                                              "type", "to", "kind", "page", "x"]),
                             st.one_of(TEXT, st.integers(-5, 10**12).map(str))), max_size=4)


def test_get_endpoints(target: Target) -> None:
    paths = st.one_of(
        TEXT.map(lambda text: f"/v2/notifications/{segment(text)}"),
        TEXT.map(lambda text: f"/v2/template/{segment(text)}"),
        st.tuples(st.just(target.template), st.integers(-5, 10**20)).map(
            lambda pair: f"/v2/template/{pair[0]}/version/{pair[1]}"),
        st.sampled_from(["/v2/notifications", "/v2/templates", "/v2/received-text-messages"]),
    )

    @FUZZ
    @given(path=paths, query=QUERIES)
    def run(path: str, query: list[tuple[str, str]]) -> None:
        suffix = "&".join(f"{segment(key)}={segment(value)}" for key, value in query)
        target.request("GET", f"{path}?{suffix}" if suffix else path, headers=target.auth())

    run()


def _segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@st.composite
def authorization_headers(draw: st.DrawFn, service_id: str) -> str:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        # requests itself refuses leading whitespace in a header value.
        return draw(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=60)).lstrip()
    header = draw(st.one_of(st.just({"alg": "HS256", "typ": "JWT"}), JSON_VALUES,
                            st.sampled_from([{"alg": "none"}, {"alg": "HS512"}])))
    claims = draw(st.one_of(JSON_VALUES, st.fixed_dictionaries(
        {"iss": st.one_of(st.just(service_id), JSON_VALUES)}, optional={"iat": JSON_VALUES, "exp": JSON_VALUES,
                                                                        "aud": JSON_VALUES})))
    signature = draw(st.binary(max_size=40))
    token = ".".join([_segment(header), _segment(claims), _segment(signature)])
    if kind == 2:
        token = token[: draw(st.integers(0, len(token)))]
    return f"{draw(st.sampled_from(['Bearer ', 'bearer ', 'BEARER ', 'Basic ', 'Bearer']))}{token}"


def test_bad_tokens(target: Target) -> None:
    @FUZZ
    @given(header=authorization_headers(target.service_id),
           path=st.sampled_from(["/v2/templates", "/v2/notifications", "/v2/notifications/email"]))
    def run(header: str, path: str) -> None:
        method = "POST" if path.endswith("email") else "GET"
        target.request(method, path, data="{}" if method == "POST" else None,
                       headers={"Authorization": header})

    run()


# -- the admin API and inbox ------------------------------------------------------------------

SERVICE_FIELDS = st.sampled_from(["name", "id", "restricted", "active", "email_sender_local_part", "rate_limit",
                                  "email_message_limit", "permissions", "contact_link", "api_keys", "team_members",
                                  "guest_list", "reply_to", "templates", "x"])
TEMPLATE_FIELDS = st.sampled_from(["id", "name", "type", "subject", "body", "version", "archived", "hidden", "x"])
KNOBS = st.sampled_from(["seed", "error_rate", "error_next", "error_when", "force_429", "latency", "hang_next",
                         "hang_seconds", "hang_when", "drop_callbacks", "bucket_tokens", "x"])


def test_admin_posts(target: Target) -> None:
    sid = target.service_id
    paths = st.sampled_from([
        ("/_simulator/services", SERVICE_FIELDS),
        (f"/_simulator/services/{sid}/api-keys", st.sampled_from(["type", "name", "secret"])),
        (f"/_simulator/services/{sid}/api-keys/revoke", st.just("key")),
        (f"/_simulator/services/{sid}/templates", TEMPLATE_FIELDS),
        # Callbacks only on a service that never sends: the fuzz must never call out.
        (f"/_simulator/services/{target.quiet_service}/callbacks", st.sampled_from(["delivery_status", "complaint"])),
        ("/_simulator/faults", KNOBS),
        (f"/_simulator/notifications/{target.notification}/complaint", st.just("x")),
    ])

    @FUZZ
    @given(data=st.data(), choice=paths, raw=st.one_of(st.none(), RAW_BODIES))
    def run(data: st.DataObject, choice: tuple[str, st.SearchStrategy[str]], raw: str | bytes | None) -> None:
        path, names = choice
        body = raw if raw is not None else encode(data.draw(st.dictionaries(names, JSON_VALUES, max_size=4)))
        try:
            target.request("POST", path, data=body)
        finally:
            if path.endswith("/faults"):
                target.request("DELETE", "/_simulator/faults")

    run()


def test_admin_and_inbox_gets(target: Target) -> None:
    paths = st.one_of(
        st.sampled_from(["/_simulator/services", "/_simulator/faults", "/_simulator/stats", "/_simulator/callbacks",
                         "/_simulator/messages", "/_simulator/inbox", "/_status", "/", "/favicon.ico",
                         "/_simulator/favicon.svg",
                         f"/_simulator/inbox/{target.notification}", f"/_simulator/messages/{target.notification}"]),
        TEXT.map(lambda text: f"/_simulator/inbox/{segment(text)}"),
        TEXT.map(lambda text: f"/_simulator/messages/{segment(text)}"),
        TEXT.map(lambda text: f"/_simulator/documents/{segment(text)}"),
    )

    @FUZZ
    @given(path=paths, query=QUERIES)
    def run(path: str, query: list[tuple[str, str]]) -> None:
        suffix = "&".join(f"{segment(key)}={segment(value)}" for key, value in query)
        target.request("GET", f"{path}?{suffix}" if suffix else path)

    run()


# -- known nasties and a table of mutated bodies ---------------------------------------------

NASTIES = ["[" * 5000, '{"a":' * 5000, "[" * 101 + "]" * 101, "\xff\xfe", "1e400", "NaN", '"\\ud800"', "{} {}",
           "\ufeff{}", " ", "", '{"x": ' + "9" * 5000 + "}"]


def test_known_nasties_on_every_endpoint(target: Target) -> None:
    stored = {**target.valid_email(), "personalisation": {"topic": "\ud800", "name": "n", "list": ["a"]}}
    assert target.request("POST", "/v2/notifications/email", data=json.dumps(stored),
                          headers=target.auth()).status_code == 201
    posts = ["/v2/notifications/email", "/v2/notifications/sms", f"/v2/template/{target.template}/preview",
             "/_simulator/services", f"/_simulator/services/{target.service_id}/api-keys",
             f"/_simulator/services/{target.service_id}/api-keys/revoke",
             f"/_simulator/services/{target.service_id}/templates",
             f"/_simulator/services/{target.quiet_service}/callbacks", "/_simulator/faults",
             f"/_simulator/notifications/{target.notification}/complaint"]
    for path in posts:
        for body in NASTIES:
            target.request("POST", path, data=body.encode("utf-8", "surrogatepass"), headers=target.auth())
        for knob in ("latency", "hang_seconds", "error_rate", "error_next", "bucket_tokens"):
            for value in ("1e400", "-1e400", "NaN", "1e30", "-1", "true", '"1"'):
                target.request("POST", "/_simulator/faults", data=f'{{"{knob}": {value}}}')
                target.request("GET", "/v2/templates", headers=target.auth())
        target.request("DELETE", "/_simulator/faults")
    for path in ("/_simulator/inbox", f"/_simulator/inbox/{target.notification}", "/_simulator/messages",
                 "/_simulator/services", "/_simulator/faults", "/_simulator/stats", "/_simulator/callbacks"):
        assert target.request("GET", path).status_code == 200
    assert target.request("GET", "/v2/notifications", headers=target.auth()).status_code == 200
    for message in target.request("GET", "/_simulator/messages").json()["messages"]:
        assert target.request("GET", f"/_simulator/inbox/{message['id']}").status_code == 200


# -- a table of mutated bodies ---------------------------------------------------------------


def mutations(valid: bytes, count: int, seed: int) -> list[bytes]:
    """``count`` corrupted copies of ``valid``: bytes flipped, cut, repeated, nested or widened."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(body) + 1)
            action = rng.randrange(6)
            if action == 0 and body:
                body[min(where, len(body) - 1)] = rng.randrange(256)
            elif action == 1:
                del body[where:where + rng.randint(1, 8)]
            elif action == 2:
                body[where:where] = rng.choice([b"[", b"{", b'"', b"\\", b"\\ud800", b"\xff", b"NaN", b"1e999", b","])
            elif action == 3:
                body[where:where] = b"[" * rng.choice([10, 101, 3000])
            elif action == 4:
                body[where:where] = b"x" * rng.choice([1000, 100_000])
            else:
                body = body[:where]
        found.append(bytes(body))
    return found


def test_thousands_of_mutated_bodies(target: Target) -> None:
    email = json.dumps({**target.valid_email(), "reference": "r", "sanitise_content_for": ["name"]}).encode()
    service = json.dumps({"name": "S", "api_keys": [{"type": "test"}], "templates": [
        {"name": "T", "subject": "S", "body": "B"}]}).encode()
    preview = json.dumps({"personalisation": {"topic": "t", "name": "n", "list": ["a"]}}).encode()
    cases = [
        ("POST", "/v2/notifications/email", email, target.auth()),
        ("POST", f"/v2/template/{target.template}/preview", preview, target.auth()),
        ("POST", "/_simulator/services", service, {}),
        ("POST", f"/_simulator/services/{target.service_id}/templates",
         json.dumps({"name": "T", "subject": "S", "body": "((x))"}).encode(), {}),
    ]
    for index, (method, path, valid, headers) in enumerate(cases):
        for body in mutations(valid, 600, seed=index):
            target.request(method, path, data=body, headers=headers)


def test_huge_bodies(target: Target) -> None:
    huge_value = {**target.valid_email(), "personalisation": {"topic": "t", "name": "n" * 3_000_000, "list": []}}
    response = target.request("POST", "/v2/notifications/email", data=json.dumps(huge_value),
                              headers=target.auth())
    assert response.status_code == 400
    many_keys = {**target.valid_email(), "personalisation": {f"k{index}": index for index in range(100_000)}}
    many = target.request("POST", "/v2/notifications/email", data=json.dumps(many_keys), headers=target.auth())
    assert many.status_code == 400  # the template's placeholders are missing
    target.request("POST", "/_simulator/services", data=json.dumps({"name": "n" * 2_000_000}))
