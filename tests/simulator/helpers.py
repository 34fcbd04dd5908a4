"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import requests

from flask_dm_email.simulator import SimulatorServer


def token_for(key: str, **claims: Any) -> str:
    """A JWT as the Notify client makes one for ``key``; ``claims`` override or add claims."""
    payload: dict[str, Any] = {"iss": key[-73:-37], "iat": int(time.time())}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key[-36:], algorithm="HS256")


def raw_token(payload: dict[str, Any], secret: str, header: dict[str, Any] | None = None) -> str:
    """An HS256 JWT built by hand, for claims PyJWT refuses to encode (e.g. a numeric iss)."""

    def part(data: Any) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing_input = part(header or {"typ": "JWT", "alg": "HS256"}) + b"." + part(payload)
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def call(sim: SimulatorServer, method: str, path: str, *, key: str | None = None,
         token: str | None = None, header: str | None = None, **kwargs: Any) -> requests.Response:
    """A raw request to the simulator, authenticated with ``key``, ``token`` or a literal header."""
    headers = dict(kwargs.pop("headers", {}))
    if header is not None:
        headers["Authorization"] = header
    elif token is not None or key is not None:
        headers["Authorization"] = f"Bearer {token or token_for(key or '')}"
    return requests.request(method, f"{sim.url}{path}", headers=headers, timeout=10, **kwargs)


def v2_error(response: requests.Response, status: int, error: str, message: str) -> None:
    """Assert the response is Notify's v2 error body with exactly one error."""
    assert response.status_code == status, response.text
    assert response.json() == {"errors": [{"error": error, "message": message}], "status_code": status}


def messages_of(response: requests.Response) -> list[str]:
    """The messages of a v2 error body, in order."""
    return [item["message"] for item in response.json()["errors"]]
