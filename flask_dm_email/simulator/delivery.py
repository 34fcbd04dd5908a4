"""What happens to a stored email: its final status, and whether it draws a complaint.

Choices (and why):

* Test keys follow Notify's research mode exactly: ``perm-fail@simulator.notify``
  -> ``permanent-failure``, ``temp-fail@simulator.notify`` -> ``temporary-failure``
  (case-sensitive, on the stored address), anything else -> ``delivered``.
* Team and live keys really send through Amazon SES in Notify, so the simulator
  honours SES's mailbox-simulator addresses for them. It does *not* apply the
  test-key addresses to them: Notify's code has no such rule, and a live-key
  test that relied on one would pass locally and fail in production.
* ``bouncing_addresses``/``bouncing_domains`` from the config bounce
  (``permanent-failure``) for every key type, so apps can rehearse bounces
  without special addresses.
"""

from __future__ import annotations

from collections.abc import Iterable

TEST_KEY_OUTCOMES = {
    "perm-fail@simulator.notify": "permanent-failure",
    "temp-fail@simulator.notify": "temporary-failure",
}

#: Amazon SES mailbox simulator: address -> (final status, complaint?).
SES_SIMULATOR_OUTCOMES = {
    "success@simulator.amazonses.com": ("delivered", False),
    "bounce@simulator.amazonses.com": ("permanent-failure", False),
    "ooto@simulator.amazonses.com": ("delivered", False),
    "complaint@simulator.amazonses.com": ("delivered", True),
    "suppressionlist@simulator.amazonses.com": ("permanent-failure", False),
}


def decide_outcome(
    to: str,
    key_type: str,
    bouncing_addresses: Iterable[str] = (),
    bouncing_domains: Iterable[str] = (),
) -> tuple[str, bool]:
    """Return ``(final status, complaint?)`` for an email to ``to`` sent with ``key_type``."""
    lowered = to.lower()
    domain = lowered.rpartition("@")[2]
    if lowered in set(bouncing_addresses) or domain in set(bouncing_domains):
        return "permanent-failure", False
    if key_type == "test":
        return TEST_KEY_OUTCOMES.get(to, "delivered"), False
    return SES_SIMULATOR_OUTCOMES.get(lowered, ("delivered", False))
