"""Operations: what a team looks at once email goes through the outbox. A blueprint at
``/_dm_email/`` (off unless ``DM_EMAIL_STATUS_PAGE=true``) serves the event feed
(:mod:`~flask_dm_email.ops.feed`) and Prometheus metrics
(:mod:`~flask_dm_email.ops.metrics`), behind the app's ``status_page_authorizer``."""

from __future__ import annotations

from .blueprint import register_operations

__all__ = ["register_operations"]
