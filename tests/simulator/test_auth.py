"""JWT authentication: every AuthError of NOTIFY_API.md §1.2, in Notify's order."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from flask_dm_email.simulator import SimulatorServer

from .helpers import call, raw_token, token_for, v2_error

GENERAL = (
    "Invalid token: make sure your API token matches the example at "
    "https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header"
)
CLOCK = "Error: Your system clock must be accurate to within 30 seconds"


def get_templates(sim: SimulatorServer, **kwargs: object) -> object:
    return call(sim, "GET", "/v2/templates", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def key(sim: SimulatorServer) -> str:
    return sim.api_key("test")


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_token_is_401(sim: SimulatorServer, header: str | None) -> None:
    response = call(sim, "GET", "/v2/templates", header=header)
    v2_error(response, 401, "AuthError", "Unauthorized: authentication token must be provided")
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Token abc.def.ghi", "Bearerx abc"])
def test_another_scheme_is_401(sim: SimulatorServer, header: str) -> None:
    v2_error(call(sim, "GET", "/v2/templates", header=header), 401, "AuthError",
             "Unauthorized: authentication bearer scheme must be used")


@pytest.mark.parametrize("scheme", ["Bearer ", "bearer ", "BEARER ", "bEaReR "])
def test_the_scheme_is_case_insensitive(sim: SimulatorServer, key: str, scheme: str) -> None:
    response = call(sim, "GET", "/v2/templates", header=scheme + token_for(key))
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c", " " + "x"])
def test_an_undecodable_token_is_the_general_error(sim: SimulatorServer, token: str) -> None:
    v2_error(call(sim, "GET", "/v2/templates", header="Bearer " + token), 403, "AuthError", GENERAL)


def test_the_token_is_not_trimmed(sim: SimulatorServer, key: str) -> None:
    v2_error(call(sim, "GET", "/v2/templates", header="Bearer  " + token_for(key)), 403, "AuthError", GENERAL)


def test_no_iss(sim: SimulatorServer, key: str) -> None:
    token = jwt.encode({"iat": int(time.time())}, key[-36:], algorithm="HS256")
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", "Invalid token: iss field not provided")


@pytest.mark.parametrize("iss", ["not-a-uuid", 12345])
def test_iss_not_a_uuid(sim: SimulatorServer, key: str, iss: object) -> None:
    token = raw_token({"iss": iss, "iat": int(time.time())}, key[-36:])
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError",
             "Invalid token: service id is not the right data type")


def test_unknown_service(sim: SimulatorServer, key: str) -> None:
    token = token_for(key, iss="00000000-0000-4000-8000-000000000000")
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", "Invalid token: service not found")


def test_service_with_no_keys(sim: SimulatorServer, key: str) -> None:
    service = sim.add_service(name="Keyless")
    token = token_for(key, iss=service["id"])
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError",
             "Invalid token: service has no API keys")


def test_archived_service(sim: SimulatorServer) -> None:
    service = sim.add_service(name="Old", active=False, api_keys=[{"type": "test"}])
    key = service["api_keys"][0]["key"]
    v2_error(call(sim, "GET", "/v2/templates", key=key), 403, "AuthError", "Invalid token: service is archived")


@pytest.mark.parametrize("offset", [-29, 29, 0])
def test_iat_within_30_seconds_is_accepted(sim: SimulatorServer, key: str, offset: int) -> None:
    token = token_for(key, iat=int(time.time()) + offset)
    assert call(sim, "GET", "/v2/templates", token=token).status_code == 200


@pytest.mark.parametrize("offset", [-31, 31, -3600, 3600])
def test_iat_outside_30_seconds_is_the_clock_error(sim: SimulatorServer, key: str, offset: int) -> None:
    token = token_for(key, iat=int(time.time()) + offset)
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", CLOCK)


@pytest.mark.parametrize("iat", [lambda: str(int(time.time())), lambda: time.time() + 0.5])
def test_integer_strings_and_floats_are_accepted_for_iat(sim: SimulatorServer, key: str, iat: object) -> None:
    token = token_for(key, iat=iat())  # type: ignore[operator]
    assert call(sim, "GET", "/v2/templates", token=token).status_code == 200


def test_a_non_numeric_iat_is_the_clock_error(sim: SimulatorServer, key: str) -> None:
    v2_error(call(sim, "GET", "/v2/templates", token=token_for(key, iat="yesterday")), 403, "AuthError", CLOCK)


def test_a_future_nbf_is_the_clock_error(sim: SimulatorServer, key: str) -> None:
    token = token_for(key, nbf=int(time.time()) + 120)
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", CLOCK)


def test_no_iat_is_key_not_found(sim: SimulatorServer, key: str) -> None:
    token = jwt.encode({"iss": key[-73:-37]}, key[-36:], algorithm="HS256")
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError", "Invalid token: API key not found")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_only_hs256(sim: SimulatorServer, key: str, algorithm: str) -> None:
    token = jwt.encode({"iss": key[-73:-37], "iat": int(time.time())}, key[-36:], algorithm=algorithm)
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError",
             "Invalid token: algorithm used is not HS256")


def test_alg_none_is_refused(sim: SimulatorServer, key: str) -> None:
    token = jwt.encode({"iss": key[-73:-37], "iat": int(time.time())}, None, algorithm="none")
    v2_error(call(sim, "GET", "/v2/templates", token=token), 403, "AuthError",
             "Invalid token: algorithm used is not HS256")


@pytest.mark.parametrize("claims", [{"exp": int(time.time()) - 3600}, {"aud": "notify"}])
def test_other_jwt_failures_are_the_general_error(sim: SimulatorServer, key: str, claims: dict[str, object]) -> None:
    v2_error(call(sim, "GET", "/v2/templates", token=token_for(key, **claims)), 403, "AuthError", GENERAL)


def test_extra_claims_are_ignored(sim: SimulatorServer, key: str) -> None:
    assert call(sim, "GET", "/v2/templates", token=token_for(key, jti="abc")).status_code == 200


def test_wrong_secret_is_key_not_found(sim: SimulatorServer, key: str) -> None:
    wrong = key[:-36] + "00000000-0000-4000-8000-000000000000"
    v2_error(call(sim, "GET", "/v2/templates", key=wrong), 403, "AuthError", "Invalid token: API key not found")


def test_a_revoked_key_is_revoked_not_missing(sim: SimulatorServer) -> None:
    key = sim.create_api_key(key_type="normal")
    sim.revoke_api_key(key)
    v2_error(call(sim, "GET", "/v2/templates", key=key), 403, "AuthError", "Invalid token: API key revoked")


def test_keys_revoked_over_7_days_ago_are_forgotten(sim: SimulatorServer) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    recently = (datetime.now(UTC) - timedelta(days=6)).isoformat()
    service = sim.add_service(name="Revoked", api_keys=[
        {"type": "test", "revoked_at": long_ago}, {"type": "test", "revoked_at": recently},
    ])
    old_key, recent_key = (item["key"] for item in service["api_keys"])
    v2_error(call(sim, "GET", "/v2/templates", key=old_key), 403, "AuthError", "Invalid token: API key not found")
    v2_error(call(sim, "GET", "/v2/templates", key=recent_key), 403, "AuthError", "Invalid token: API key revoked")
    only_old = sim.add_service(name="All old", api_keys=[{"type": "test", "revoked_at": long_ago}])
    v2_error(call(sim, "GET", "/v2/templates", key=only_old["api_keys"][0]["key"]), 403, "AuthError",
             "Invalid token: service has no API keys")


def test_every_v2_route_needs_auth(sim: SimulatorServer) -> None:
    tid = "00000000-0000-4000-8000-000000000000"
    for method, path in [("POST", "/v2/notifications/email"), ("GET", "/v2/notifications"),
                         ("GET", f"/v2/notifications/{tid}"), ("GET", f"/v2/template/{tid}"),
                         ("GET", f"/v2/template/{tid}/version/1"), ("POST", f"/v2/template/{tid}/preview"),
                         ("GET", "/v2/templates"), ("GET", "/v2/received-text-messages"),
                         ("POST", "/v2/notifications/sms")]:
        assert call(sim, method, path).status_code == 401, path


def test_auth_comes_before_body_parsing(sim: SimulatorServer) -> None:
    response = call(sim, "POST", "/v2/notifications/email", data="not json")
    assert response.status_code == 401
