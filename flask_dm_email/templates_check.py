"""Template drift: does every template in ``DM_NOTIFY_TEMPLATES`` still exist in Notify, as
a live email template, and which placeholders does it need? (``flask dm-email templates
check``; a template archived in Notify's web interface otherwise shows up only as every
send failing with "Template has been deleted".)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

OK = "ok"
MISSING = "missing"
ARCHIVED = "archived"
NOT_EMAIL = "not an email template"


@dataclass(frozen=True)
class TemplateCheck:
    """What Notify says about one configured template."""

    name: str
    id: str
    status: str
    type: str | None = None
    version: int | None = None
    placeholders: tuple[str, ...] = field(default=())
    notify_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "placeholders": list(self.placeholders), "ok": self.ok}


def check_templates(templates: Mapping[str, str], api_key: str, base_url: str, timeout: float = 10.0
                    ) -> list[TemplateCheck]:
    """Check every ``name -> id`` against Notify (or the simulator).

    :raises notifications_python_client.errors.APIError: when Notify cannot be asked at all
        (a wrong key, Notify down): nothing could be checked.
    """
    client = NotificationsAPIClient(api_key, base_url=base_url, timeout=timeout)  # type: ignore[no-untyped-call]
    # The list leaves archived (and hidden) templates out; a single GET still returns them.
    live = {t["id"] for t in client.get_all_templates().get("templates", [])}  # type: ignore[no-untyped-call]
    results = []
    for name, template_id in sorted(templates.items()):
        try:
            found = client.get_template(template_id)  # type: ignore[no-untyped-call]
        except APIError as error:
            if error.status_code in (400, 404):
                results.append(TemplateCheck(name, template_id, MISSING))
                continue
            raise
        kind = found.get("type")
        status = NOT_EMAIL if kind != "email" else OK if template_id in live else ARCHIVED
        results.append(TemplateCheck(
            name, template_id, status, type=kind, version=found.get("version"),
            placeholders=tuple(sorted(found.get("personalisation") or {})), notify_name=found.get("name"),
        ))
    return results
