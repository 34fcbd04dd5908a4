"""The draft-04 response schemas notifications-python-client's integration tests check (NOTIFY_API.md §9)."""

from __future__ import annotations

from typing import Any

UUID = {
    "type": "string",
    "pattern": "^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$",
}
TEMPLATE_REF = {
    "type": "object",
    "properties": {"id": UUID, "version": {"type": "integer"}, "uri": {"type": "string"}},
    "required": ["id", "version", "uri"],
}
NULLABLE_STRING = {"type": ["string", "null"]}

POST_EMAIL_RESPONSE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "id": UUID,
        "reference": NULLABLE_STRING,
        "content": {
            "type": "object",
            "properties": {"body": {"type": "string"}, "from_email": {"type": "string"},
                           "subject": {"type": "string"}},
            "required": ["body", "from_email", "subject"],
        },
        "uri": {"type": "string"},
        "template": TEMPLATE_REF,
        "sanitised_content": {"type": "object"},
    },
    "required": ["id", "content", "uri", "template", "sanitised_content"],
}

GET_NOTIFICATION_RESPONSE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "id": UUID,
        "reference": NULLABLE_STRING,
        "email_address": NULLABLE_STRING,
        "phone_number": NULLABLE_STRING,
        **{f"line_{number}": NULLABLE_STRING for number in range(1, 7)},
        "postcode": NULLABLE_STRING,
        "postage": {"enum": ["first", "second", "economy", None]},
        "type": {"enum": ["sms", "letter", "email"]},
        "status": {"type": "string"},
        "template": TEMPLATE_REF,
        "body": {"type": "string"},
        "subject": NULLABLE_STRING,
        "created_at": {"type": "string"},
        "created_by_name": NULLABLE_STRING,
        "sent_at": NULLABLE_STRING,
        "completed_at": NULLABLE_STRING,
    },
    "required": [
        "id", "reference", "email_address", "phone_number", "line_1", "line_2", "line_3", "line_4", "line_5",
        "line_6", "postcode", "type", "status", "template", "body", "created_at", "sent_at", "completed_at",
    ],
}

GET_NOTIFICATIONS_RESPONSE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "links": {
            "type": "object",
            "properties": {"current": {"type": "string"}, "next": {"type": "string"}},
            "additionalProperties": False,
            "required": ["current"],
        },
        "notifications": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
    "required": ["notifications", "links"],
}

GET_TEMPLATE_RESPONSE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "id": UUID,
        "type": {"enum": ["sms", "email", "letter"]},
        "name": {"type": "string"},
        "created_at": {"type": "string"},
        "updated_at": NULLABLE_STRING,
        "version": {"type": "integer"},
        "created_by": {"type": "string"},
        "body": {"type": "string"},
        "subject": NULLABLE_STRING,
        "letter_contact_block": NULLABLE_STRING,
    },
    "required": ["id", "type", "created_at", "updated_at", "version", "created_by", "body"],
}

GET_ALL_TEMPLATES_RESPONSE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {"templates": {"type": "array", "items": {"$ref": "#/definitions/template"}}},
    "required": ["templates"],
    "definitions": {"template": GET_TEMPLATE_RESPONSE},
}

POST_TEMPLATE_PREVIEW_RESPONSE: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "id": UUID,
        "type": {"enum": ["sms", "email", "letter"]},
        "version": {"type": "integer"},
        "body": {"type": "string"},
        "subject": NULLABLE_STRING,
    },
    "required": ["id", "type", "version", "body"],
}


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate with jsonschema's draft-04 validator (a test dependency)."""
    import jsonschema

    jsonschema.Draft4Validator(schema).validate(instance)
