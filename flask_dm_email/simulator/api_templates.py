"""The v2 template routes: get one (or a version), list, and preview."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request

from .email_html import render_html_body
from .jsonio import bad_request, json_response, no_result_found, parse_json, validation_error
from .models import Template, TemplateVersion
from .schema import is_uuid, validate_preview, validate_templates_query
from .state import current_state
from .templating import (
    lookup_values,
    missing_personalisation,
    personalisation_schema,
    render_body,
    render_subject,
)
from .timeutil import format_time
from .v2 import caller


def register_template_routes(blueprint: Blueprint) -> None:
    """Add the template routes to the v2 blueprint."""
    blueprint.add_url_rule("/template/<template_id>", view_func=get_template, methods=["GET"])
    blueprint.add_url_rule(
        "/template/<template_id>/version/<int:version>", view_func=get_template, methods=["GET"]
    )
    blueprint.add_url_rule("/template/<template_id>/preview", view_func=preview_template, methods=["POST"])
    blueprint.add_url_rule("/templates", view_func=get_templates, methods=["GET"])


def template_response(template: Template, content: TemplateVersion) -> dict[str, Any]:
    """Notify's ``serialize_for_v2`` for one template version."""
    return {
        "body": content.body,
        "created_at": format_time(content.created_at),
        "created_by": content.created_by,
        "id": template.id,
        "letter_contact_block": None,
        "name": content.name,
        "personalisation": personalisation_schema([content.subject, content.body]),
        "postage": None,
        "subject": None if template.type == "sms" else content.subject,
        "type": template.type,
        "updated_at": format_time(content.updated_at),
        "version": content.version,
    }


def _find(template_id: str) -> Template:
    if not is_uuid(template_id):
        raise validation_error("id is not a valid UUID")
    service, _ = caller()
    template = service.templates.get(str(uuid.UUID(template_id)))
    if template is None or template.hidden:
        raise no_result_found()
    return template


def get_template(template_id: str, version: int = 0) -> Response:
    """``GET /v2/template/<id>[/version/<v>]``; version 0 means current, as in Notify."""
    with current_state().lock:
        template = _find(template_id)
        content = template.version(version) if version else template.current
        if content is None:
            raise no_result_found()
        return json_response(template_response(template, content))


def get_templates() -> Response:
    """``GET /v2/templates[?type=...]``: archived and hidden templates are left out."""
    template_type = validate_templates_query(request.args)
    service, _ = caller()
    with current_state().lock:
        templates = sorted(
            (item for item in service.templates.values() if not item.archived and not item.hidden),
            key=lambda item: (item.current.name, item.type),
        )
        found = [template_response(item, item.current) for item in templates
                 if template_type is None or item.type == template_type]
    return json_response({"templates": found})


def preview_template(template_id: str) -> Response:
    """``POST /v2/template/<id>/preview``: no sanitisation, empty body allowed."""
    raw = request.get_data(cache=True)
    try:
        # Only a truly empty body means "no personalisation"; whitespace is invalid JSON, as in Notify.
        body = parse_json(raw) if raw else {}
    except ValueError:
        raise bad_request("Invalid JSON supplied in POST data") from None
    body = validate_preview(body)
    with current_state().lock:
        template = _find(template_id)
        content = template.current
    values = lookup_values(body.get("personalisation") or {})
    missing = missing_personalisation(values, content.subject, content.body)
    if missing:
        raise bad_request(f"Missing personalisation: {', '.join(missing)}")
    filled = render_body(content.body, values)
    return json_response({
        "body": filled,
        "html": render_html_body(content.body, body.get("personalisation") or {}) if template.type == "email" else None,
        "id": template.id,
        "postage": None,
        "subject": None if template.type == "sms" else render_subject(content.subject, values),
        "type": template.type,
        "version": content.version,
    })
