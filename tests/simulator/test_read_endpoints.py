"""GET notifications (one and list), templates, versions and preview (NOTIFY_API.md §7)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from notifications_python_client import NotificationsAPIClient
from notifications_python_client.errors import HTTPError

from flask_dm_email.simulator import SimulatorServer

from .helpers import call, messages_of, v2_error
from .notify_schemas import (
    GET_ALL_TEMPLATES_RESPONSE,
    GET_NOTIFICATION_RESPONSE,
    GET_NOTIFICATIONS_RESPONSE,
    GET_TEMPLATE_RESPONSE,
    POST_TEMPLATE_PREVIEW_RESPONSE,
    validate,
)


class TestGetOne:
    def test_the_body(self, sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
        sent = client.send_email_notification("Bob@Example.com", template_id, {"name": "Bob"}, reference="r")
        found = client.get_notification_by_id(sent["id"])
        validate(found, GET_NOTIFICATION_RESPONSE)
        assert found == {
            "body": "Dear Bob,\n\nWelcome.", "completed_at": None, "cost_details": {}, "cost_in_pounds": 0.0,
            "created_at": found["created_at"], "created_by_name": None, "email_address": "Bob@Example.com",
            "id": sent["id"], "is_cost_data_ready": True, "line_1": None, "line_2": None, "line_3": None,
            "line_4": None, "line_5": None, "line_6": None, "one_click_unsubscribe_url": None,
            "phone_number": None, "postage": None, "postcode": None, "reference": "r", "scheduled_for": None,
            "sent_at": None, "status": "created", "subject": "Hello Bob",
            "template": {"id": template_id, "uri": f"{sim.url}/v2/template/{template_id}/version/1", "version": 1},
            "type": "email",
        }
        assert found["created_at"].endswith("Z") and len(found["created_at"]) == 27

    def test_any_key_type_of_the_service_can_read_it(self, make_client: Callable[..., NotificationsAPIClient],
                                                     client: NotificationsAPIClient, template_id: str) -> None:
        sent = client.send_email_notification("a@example.com", template_id, {"name": "A"})
        assert make_client("normal").get_notification_by_id(sent["id"])["id"] == sent["id"]

    def test_errors(self, sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
        key = sim.api_key()
        v2_error(call(sim, "GET", "/v2/notifications/nope", key=key), 400, "ValidationError",
                 "notification_id is not a valid UUID")
        v2_error(call(sim, "GET", "/v2/notifications/00000000-0000-4000-8000-000000000000", key=key), 404,
                 "NoResultFound", "No result found")
        sent = client.send_email_notification("a@example.com", template_id, {"name": "A"})
        other = sim.add_service(name="Other", api_keys=[{"type": "test"}])
        v2_error(call(sim, "GET", f"/v2/notifications/{sent['id']}", key=other["api_keys"][0]["key"]), 404,
                 "NoResultFound", "No result found")


class TestList:
    def test_filters_by_the_callers_key_type(self, make_client: Callable[..., NotificationsAPIClient],
                                             client: NotificationsAPIClient, template_id: str) -> None:
        mine = client.send_email_notification("a@example.com", template_id, {"name": "A"})
        make_client("normal").send_email_notification("b@example.com", template_id, {"name": "B"})
        listed = client.get_all_notifications()
        validate(listed, GET_NOTIFICATIONS_RESPONSE)
        assert [item["id"] for item in listed["notifications"]] == [mine["id"]]
        for item in listed["notifications"]:
            validate(item, GET_NOTIFICATION_RESPONSE)

    def test_newest_first_with_filters(self, sim: SimulatorServer, client: NotificationsAPIClient,
                                       template_id: str) -> None:
        sim.state.delivery_delay = 3600  # keep these "created" while the filters are checked
        ids = [client.send_email_notification(f"a{n}@example.com", template_id, {"name": "A"},
                                              reference="even" if n % 2 == 0 else "odd")["id"] for n in range(4)]
        assert [item["id"] for item in client.get_all_notifications()["notifications"]] == ids[::-1]
        even = client.get_all_notifications(reference="even")["notifications"]
        assert [item["id"] for item in even] == [ids[2], ids[0]]
        assert client.get_all_notifications(template_type="sms")["notifications"] == []
        assert len(client.get_all_notifications(template_type="email")["notifications"]) == 4
        assert len(client.get_all_notifications(status="created")["notifications"]) == 4
        assert client.get_all_notifications(status="delivered")["notifications"] == []
        sim.state.delivery_delay = 0.01
        fail = client.send_email_notification("perm-fail@simulator.notify", template_id, {"name": "A"})
        sim.wait_for_status(fail["id"], "permanent-failure")
        assert [item["id"] for item in client.get_all_notifications(status="failed")["notifications"]] == [fail["id"]]

    def test_links_and_older_than(self, sim: SimulatorServer, client: NotificationsAPIClient,
                                  template_id: str) -> None:
        sim.state.delivery_delay = 3600  # statuses stay still between the calls compared below
        ids = [client.send_email_notification("a@example.com", template_id, {"name": "A"})["id"] for _ in range(3)]
        page = client.get_all_notifications(status=["created", "sending"])
        assert page["links"]["current"] == f"{sim.url}/v2/notifications?status=created&status=sending"
        query = parse_qs(urlsplit(page["links"]["next"]).query)
        assert query == {"status": ["created", "sending"], "older_than": [ids[0]]}
        older = client.get_all_notifications(older_than=ids[1])
        assert [item["id"] for item in older["notifications"]] == [ids[0]]
        assert "next" in older["links"]
        last = client.get_all_notifications(older_than=ids[0])
        assert last == {"links": {"current": f"{sim.url}/v2/notifications?older_than={ids[0]}"}, "notifications": []}
        assert client.get_all_notifications(older_than="00000000-0000-4000-8000-000000000000")["notifications"] == []
        assert list(client.get_all_notifications_iterator()) == client.get_all_notifications()["notifications"]

    def test_250_per_page(self, sim: SimulatorServer, client: NotificationsAPIClient, template_id: str) -> None:
        sim.state.delivery_delay = 3600
        for _ in range(260):
            client.send_email_notification("a@example.com", template_id, {"name": "A"})
        first = client.get_all_notifications()
        assert len(first["notifications"]) == 250
        assert len(client.get_all_notifications(older_than=first["notifications"][-1]["id"])["notifications"]) == 10
        assert len(list(client.get_all_notifications_iterator())) == 260

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("status=elephant", "status elephant is not one of [cancelled, created, sending, sent, delivered, "
             "pending, failed, technical-failure, temporary-failure, permanent-failure, pending-virus-check, "
             "validation-failed, virus-scan-failed, returned-letter, accepted, received]"),
            ("template_type=orange", "template_type orange is not one of [sms, email, letter]"),
            ("older_than=nope", "older_than is not a valid UUID"),
            ("include_jobs=yes", "include_jobs yes is not one of [true, True]"),
            ("foo=1", "Additional properties are not allowed (foo was unexpected)"),
        ],
    )
    def test_errors(self, sim: SimulatorServer, query: str, message: str) -> None:
        v2_error(call(sim, "GET", f"/v2/notifications?{query}", key=sim.api_key()), 400, "ValidationError", message)


class TestTemplates:
    def test_get_one(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        template_id = sim.add_template(name="T", subject="Hi ((name))", body="Body ((code)) ((name))")
        found = client.get_template(template_id)
        validate(found, GET_TEMPLATE_RESPONSE)
        assert found == {
            "body": "Body ((code)) ((name))", "created_at": found["created_at"],
            "created_by": "notify-simulator@example.com", "id": template_id, "letter_contact_block": None,
            "name": "T", "personalisation": {"name": {"required": True}, "code": {"required": True}},
            "postage": None, "subject": "Hi ((name))", "type": "email", "updated_at": None, "version": 1,
        }

    def test_versions(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        template_id = sim.add_template(name="T", subject="One", body="First")
        assert sim.update_template(template_id, subject="Two", body="Second") == 2
        assert client.get_template(template_id)["version"] == 2
        first = client.get_template_version(template_id, 1)
        assert (first["subject"], first["body"], first["version"], first["updated_at"]) == ("One", "First", 1, None)
        second = client.get_template_version(template_id, 2)
        assert second["subject"] == "Two" and second["updated_at"] is not None
        assert client.get_template_version(template_id, 0)["version"] == 2  # Notify's quirk
        v2_error(call(sim, "GET", f"/v2/template/{template_id}/version/3", key=sim.api_key()), 404,
                 "NoResultFound", "No result found")
        for bad in ("-1", "x"):
            response = call(sim, "GET", f"/v2/template/{template_id}/version/{bad}", key=sim.api_key())
            assert response.status_code == 404 and response.json()["result"] == "error"
        sent = client.send_email_notification("a@example.com", template_id)
        assert sent["template"]["version"] == 2 and sent["content"]["subject"] == "Two"

    def test_errors(self, sim: SimulatorServer) -> None:
        key = sim.api_key()
        v2_error(call(sim, "GET", "/v2/template/nope", key=key), 400, "ValidationError", "id is not a valid UUID")
        v2_error(call(sim, "GET", "/v2/template/00000000-0000-4000-8000-000000000000", key=key), 404,
                 "NoResultFound", "No result found")

    def test_archived_templates_are_got_but_not_listed(self, sim: SimulatorServer,
                                                       client: NotificationsAPIClient) -> None:
        live = sim.add_template(name="B live", subject="S", body="B")
        archived = sim.add_template(name="A archived", subject="S", body="B", archived=True)
        sim.add_template(name="C hidden", subject="S", body="B", hidden=True)
        sms = sim.add_template(name="D sms", subject="", body="B", type="sms")
        assert client.get_template(archived)["id"] == archived
        listed = client.get_all_templates()
        validate(listed, GET_ALL_TEMPLATES_RESPONSE)
        assert [item["id"] for item in listed["templates"]] == [live, sms]
        assert [item["id"] for item in client.get_all_templates("email")["templates"]] == [live]
        assert client.get_all_templates("sms")["templates"][0]["subject"] is None

    @pytest.mark.parametrize(("query", "message"), [
        ("type=foo", "type foo is not one of [sms, email, letter]"),
        ("bar=1", "Additional properties are not allowed (bar was unexpected)"),
    ])
    def test_list_errors(self, sim: SimulatorServer, query: str, message: str) -> None:
        v2_error(call(sim, "GET", f"/v2/templates?{query}", key=sim.api_key()), 400, "ValidationError", message)

    def test_preview(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        template_id = sim.add_template(name="T", subject="It's ((name))", body="# Hi ((name))\n\n* <b>x</b>")
        preview = client.post_template_preview(template_id, {"name": "Ann & Bo"})
        validate(preview, POST_TEMPLATE_PREVIEW_RESPONSE)
        assert preview["html"].startswith("<h2 style=") and "Hi Ann &amp; Bo" in preview["html"]  # test_email_html
        assert preview == {
            "body": "# Hi Ann & Bo\n\n* <b>x</b>",
            "html": preview["html"],
            "id": template_id, "postage": None, "subject": "It\u2019s Ann & Bo", "type": "email", "version": 1,
        }

    def test_preview_errors(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        template_id = sim.add_template(name="T", subject="S", body="((name))")
        with pytest.raises(HTTPError) as info:
            client.post_template_preview(template_id, {})
        assert info.value.message == [{"error": "BadRequestError", "message": "Missing personalisation: name"}]
        key = sim.api_key()
        assert call(sim, "POST", f"/v2/template/{template_id}/preview", key=key, data="").status_code == 400
        v2_error(call(sim, "POST", f"/v2/template/{template_id}/preview", key=key, json={"personalisation": "x"}),
                 400, "ValidationError", "personalisation x is not of type object")
        v2_error(call(sim, "POST", "/v2/template/00000000-0000-4000-8000-000000000000/preview", key=key, json={}),
                 404, "NoResultFound", "No result found")
        extra = call(sim, "POST", f"/v2/template/{template_id}/preview", key=key,
                     json={"personalisation": {"name": "x"}, "other": 1})
        assert extra.status_code == 200


def test_sms_and_letters_are_refused(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    with pytest.raises(HTTPError) as info:
        client.send_sms_notification("07700900000", "00000000-0000-4000-8000-000000000000")
    assert info.value.message == [
        {"error": "BadRequestError", "message": "Service is not allowed to send text messages"}
    ]
    with pytest.raises(HTTPError) as info:
        client.send_letter_notification("00000000-0000-4000-8000-000000000000", {"address_line_1": "x"})
    assert info.value.message == [{"error": "BadRequestError", "message": "Service is not allowed to send letters"}]
    assert messages_of(call(sim, "POST", "/v2/notifications/sms", key=sim.api_key(), data="x")) == [
        "Invalid JSON supplied in POST data"]


def test_received_text_messages_are_empty(client: NotificationsAPIClient) -> None:
    assert client.get_received_texts()["received_text_messages"] == []
