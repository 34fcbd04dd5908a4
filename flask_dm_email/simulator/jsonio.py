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
