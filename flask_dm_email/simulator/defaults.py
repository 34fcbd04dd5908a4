"""Fixed values the simulator uses when nothing else is configured.

The zero-config constants are deliberately public and stable: a quick start can
put ``ZERO_CONFIG_KEYS["test"]`` into ``DM_NOTIFY_KEY`` and talk to a simulator
started with no config file. They are *not* secrets; they only work against the
local simulator.
"""

from __future__ import annotations

#: Service id of the single "Local development" service in zero-config mode.
ZERO_CONFIG_SERVICE_ID = "7c0ffee0-5e4d-4a11-9e0e-d0c5a1a10ca1"

#: Name of the zero-config service.
ZERO_CONFIG_SERVICE_NAME = "Local development"

#: Team member of the zero-config service, so team keys have someone to send to.
ZERO_CONFIG_TEAM_MEMBER = "developer@example.com"

#: Secrets (the last 36 characters of a key) of the zero-config keys, by key type.
ZERO_CONFIG_SECRETS = {
    "test": "7e570000-0000-4000-8000-000000000001",
    "team": "7ea30000-0000-4000-8000-000000000002",
    "normal": "11fe0000-0000-4000-8000-000000000003",
}

#: Names of the zero-config keys, by key type.
ZERO_CONFIG_KEY_NAMES = {"test": "local-test", "team": "local-team", "normal": "local-live"}

#: Full API key strings (``{name}-{service_id}-{secret}``) of the zero-config keys.
ZERO_CONFIG_KEYS = {
    key_type: f"{ZERO_CONFIG_KEY_NAMES[key_type]}-{ZERO_CONFIG_SERVICE_ID}-{secret}"
    for key_type, secret in ZERO_CONFIG_SECRETS.items()
}

#: What ``GET /_simulator/identity`` answers as ``simulator``: a client checks it before it
#: uses a simulator it finds on a port (a different server there must not get its emails).
SIMULATOR_IDENTITY = "flask-dm-email Notify simulator"

#: Seconds between each status step (created -> sending -> final).
DEFAULT_DELIVERY_DELAY = 0.5

#: Seconds between callback retries; Notify's Celery task waits 300 s.
DEFAULT_CALLBACK_RETRY_DELAY = 300.0

#: Notify gives up after 5 retries, i.e. 6 attempts in all.
CALLBACK_MAX_RETRIES = 5

#: Notify's callback request timeout in seconds.
CALLBACK_TIMEOUT = 5.0

#: Domain of ``content.from_email`` (production Notify's sending domain).
DEFAULT_EMAIL_DOMAIN = "notifications.service.gov.uk"

#: Notify's default per-minute rate limit.
DEFAULT_RATE_LIMIT = 3000

#: Daily email limits Notify documents for live and trial services.
DEFAULT_LIVE_EMAIL_LIMIT = 250_000
DEFAULT_TRIAL_EMAIL_LIMIT = 50

#: Shown as ``created_by`` of templates that do not name a creator.
DEFAULT_TEMPLATE_CREATOR = "notify-simulator@example.com"

#: Notify's admin site, used in the send-a-file error message.
ADMIN_BASE_URL = "https://www.notifications.service.gov.uk"

#: Page size of ``GET /v2/notifications`` (Notify's API_PAGE_SIZE).
API_PAGE_SIZE = 250
