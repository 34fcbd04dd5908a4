"""``flask dm-email templates check``: template drift against the simulator over HTTP."""

from __future__ import annotations

import json
import uuid
from typing import Any

from .test_cli import factory_for, run


def test_drift_is_reported_with_a_non_zero_exit(sim: Any) -> None:
    welcome = sim.add_template(name="Welcome", subject="Hello ((name))", body="Dear ((name)), see ((link)).")
    old = sim.add_template(name="Old", subject="Old", body="Gone")
    sim.update_template(old, archived=True)
    text_message = sim.add_template(name="SMS", subject="", body="Hi ((name))", type="sms")
    missing = str(uuid.uuid4())
    factory = factory_for(
        DM_ENVIRONMENT="development", DM_NOTIFY_KEY=sim.api_key("test"), DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_CALLBACKS_ENABLED=False,
        DM_NOTIFY_TEMPLATES={"welcome": welcome, "old": old, "sms": text_message, "gone": missing},
    )
    result = run(factory, "templates", "check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    by_name = {t["name"]: t for t in report["templates"]}
    assert report["ok"] is False
    assert (by_name["welcome"]["status"], by_name["welcome"]["placeholders"]) == ("ok", ["link", "name"])
    assert by_name["welcome"]["version"] == 1 and by_name["welcome"]["type"] == "email"
    assert by_name["old"]["status"] == "archived"
    assert by_name["sms"]["status"] == "not an email template"
    assert by_name["gone"]["status"] == "missing"

    table = run(factory, "templates", "check")
    assert table.exit_code == 1
    assert "welcome  " in table.stdout and "link, name" in table.stdout
    assert "old: deleted in Notify" in table.stderr and "gone: no template with this id" in table.stderr


def test_all_present_exits_zero(sim: Any, template_id: str) -> None:
    factory = factory_for(DM_NOTIFY_KEY=sim.api_key("test"), DM_NOTIFY_BASE_URL=sim.url,
                          DM_NOTIFY_CALLBACKS_ENABLED=False, DM_NOTIFY_TEMPLATES={"welcome": template_id})
    result = run(factory, "templates", "check")
    assert result.exit_code == 0, result.output


def test_without_a_key_or_notify_it_says_what_to_do(sim: Any, template_id: str) -> None:
    no_key = run(factory_for(DM_NOTIFY_TEMPLATES={"welcome": template_id}), "templates", "check")
    assert no_key.exit_code == 1 and "needs DM_NOTIFY_KEY" in no_key.output
    unreachable = run(factory_for(DM_NOTIFY_KEY=sim.api_key("test"), DM_NOTIFY_BASE_URL="http://127.0.0.1:1",
                                  DM_NOTIFY_CALLBACKS_ENABLED=False, DM_NOTIFY_TEMPLATES={"welcome": template_id}),
                      "templates", "check")
    assert unreachable.exit_code == 2 and "nothing was checked" in unreachable.output
    assert "Traceback" not in unreachable.output
