"""Notify's wire format: JSON encoding, error bodies and response headers."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

#: Headers Notify's ``after_request`` adds to every response.
NOTIFY_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type,Authorization",
    "Access-Control-Allow-Methods": "GET,PUT,POST,DELETE",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Permitted-Cross-Domain-Policies": "none",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "Cache-Control": "no-store, no-cache, private, must-revalidate",
}

NOT_FOUND_MESSAGE = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again."
)
METHOD_NOT_ALLOWED_MESSAGE = "The method is not allowed for the requested URL."

#: Deeper JSON is refused as invalid. Python's parser gives up near 1000 levels
#: with a RecursionError, and anything close to that breaks later recursive code
#: (rendering, copying); no real request nests more than a few levels.
MAX_JSON_DEPTH = 100


class ApiError(Exception):
    """An error answered in Notify's v2 shape: ``{"errors": [...], "status_code": N}``."""

    def __init__(self, status_code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.errors = [(error, message)]

    @classmethod
    def many(cls, status_code: int, errors: list[tuple[str, str]]) -> ApiError:
        """One response listing several errors (schema validation reports them all)."""
        instance = cls(status_code, *errors[0])
        instance.errors = list(errors)
        return instance

    def body(self) -> dict[str, Any]:
        """The JSON body Notify sends for this error."""
        return {
            "errors": [{"error": error, "message": message} for error, message in self.errors],
            "status_code": self.status_code,
        }


def parse_json(data: bytes | str) -> Any:
    """Parse a request body like Notify's ``json.loads``; raise ValueError if it is not usable JSON.

    Besides malformed JSON, this refuses nesting deeper than :data:`MAX_JSON_DEPTH`
    (Notify itself fails with a 500 somewhere past ~900 levels; the simulator
    answers the caller's mistake with a 4xx instead).
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if nesting_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def nesting_depth(value: Any) -> int:
    """How many lists/objects deep ``value`` goes (0 for a scalar); iterative, so never recursion-limited."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def encode(data: Any) -> str:
    """Encode like Notify's JSON provider: compact, sorted keys, ASCII, trailing newline."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def json_response(data: Any, status: int = 200) -> Response:
    """A response whose body is ``data`` in Notify's encoding."""
    return Response(encode(data), status=status, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    """The v2 error response for ``error``."""
    return json_response(error.body(), error.status_code)


def app_error_response(status: int, message: str) -> Response:
    """The app-level (non-v2) error shape Notify uses for unknown URLs and methods."""
    return json_response({"message": message, "result": "error"}, status)


def validation_error(message: str) -> ApiError:
    """A 400 ``ValidationError``."""
    return ApiError(400, "ValidationError", message)


def bad_request(message: str) -> ApiError:
    """A 400 ``BadRequestError``."""
    return ApiError(400, "BadRequestError", message)


def no_result_found() -> ApiError:
    """Notify's 404 for ids it cannot find."""
    return ApiError(404, "NoResultFound", "No result found")
