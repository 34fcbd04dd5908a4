"""Notify's JWT authentication for v2 routes: same checks, order and messages."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from .jsonio import ApiError, parse_json
from .models import ApiKey, Service
from .state import SimulatorState
from .timeutil import utcnow

#: Notify's clock tolerance in seconds, both ways.
IAT_BOUND = 30

GENERAL_AUTH_MESSAGE = (
    "Invalid token: make sure your API token matches the example at "
    "https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header"
)
CLOCK_MESSAGE = "Error: Your system clock must be accurate to within 30 seconds"


def auth_error(status: int, message: str) -> ApiError:
    """An ``AuthError`` as Notify's v2 handler renders it."""
    return ApiError(status, "AuthError", message)


def _bearer_token(header: str | None) -> str:
    if not header:
        raise auth_error(401, "Unauthorized: authentication token must be provided")
    if header[:7].title() != "Bearer ":
        raise auth_error(401, "Unauthorized: authentication bearer scheme must be used")
    # Notify takes everything after the 7 characters, untrimmed.
    return header[7:]


def _issuer(token: str) -> Any:
    try:
        # Parse the payload without PyJWT's claim checks: a non-string iss must
        # reach the UUID check below, as it does in Notify.
        claims = parse_json(jwt.api_jws.decode(token, options={"verify_signature": False}))
    except (jwt.PyJWTError, ValueError, RecursionError):
        # RecursionError: PyJWT parses the header itself, and a deeply nested one overflows.
        raise auth_error(403, GENERAL_AUTH_MESSAGE) from None
    if not isinstance(claims, dict):
        raise auth_error(403, GENERAL_AUTH_MESSAGE)
    if "iss" not in claims:
        raise auth_error(403, "Invalid token: iss field not provided")
    return claims["iss"]


class _WrongKey(Exception):
    """The token was not signed with this key (or lacks ``iat``): try the next one."""


def _check_with_key(token: str, secret: str) -> None:
    try:
        claims = jwt.decode(token, key=secret, algorithms=["HS256"], leeway=IAT_BOUND)
    except (jwt.InvalidIssuedAtError, jwt.ImmatureSignatureError):
        raise auth_error(403, CLOCK_MESSAGE) from None
    except jwt.InvalidAlgorithmError:
        raise auth_error(403, "Invalid token: algorithm used is not HS256") from None
    except jwt.DecodeError:
        raise _WrongKey from None
    except RecursionError:
        # A header nested just shallowly enough to get past the first parse.
        raise auth_error(403, GENERAL_AUTH_MESSAGE) from None
    except jwt.InvalidTokenError:
        # Expired exp, any aud, and the like: Notify gives no detail for these.
        raise auth_error(403, GENERAL_AUTH_MESSAGE) from None
    if "iat" not in claims:
        # Notify's missing-iat error is a decode error, so the key is skipped.
        raise _WrongKey
    now = int(time.time())
    try:
        issued_at = int(claims["iat"])
    except (TypeError, ValueError):
        raise auth_error(403, CLOCK_MESSAGE) from None
    if now > issued_at + IAT_BOUND or issued_at > now + IAT_BOUND:
        raise auth_error(403, CLOCK_MESSAGE)


def authenticate(state: SimulatorState, header: str | None) -> tuple[Service, ApiKey]:
    """Return the caller's service and key, or raise Notify's ``AuthError``."""
    token = _bearer_token(header)
    issuer = _issuer(token)
    try:
        service_id = str(uuid.UUID(issuer))
    except (TypeError, ValueError, AttributeError):
        raise auth_error(403, "Invalid token: service id is not the right data type") from None
    with state.lock:
        service = state.services.get(service_id)
        if service is None:
            raise auth_error(403, "Invalid token: service not found")
        keys = service.usable_keys(utcnow())
        if not keys:
            raise auth_error(403, "Invalid token: service has no API keys")
        if not service.active:
            raise auth_error(403, "Invalid token: service is archived")
    for key in keys:
        try:
            _check_with_key(token, key.secret)
        except _WrongKey:
            continue
        if key.revoked_at is not None:
            raise auth_error(403, "Invalid token: API key revoked")
        return service, key
    raise auth_error(403, "Invalid token: API key not found")
