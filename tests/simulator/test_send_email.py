"""POST /v2/notifications/email: the 201 body, the schema errors and Notify's other 400s."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from notifications_python_client import NotificationsAPIClient, prepare_upload
from notifications_python_client.errors import HTTPError

from flask_dm_email.simulator import ZERO_CONFIG_SERVICE_ID, SimulatorServer

from .helpers import call, messages_of, v2_error
from .notify_schemas import POST_EMAIL_RESPONSE, validate

EMAIL = "/v2/notifications/email"


def post(sim: SimulatorServer, body: Any, key_type: str = "test", **kwargs: Any) -> requests.Response:
    return call(sim, "POST", EMAIL, key=sim.api_key(key_type), json=body, **kwargs)


def test_the_201_body(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template_id = sim.add_template(
        name="T", subject="Hello ((name))", body="Hello ((name))\nThis is an email from GOV.UK"
    )
    response = client.send_email_notification("bob@example.com", template_id, {"name": "Bob"}, reference="ref-1")
    validate(response, POST_EMAIL_RESPONSE)
    assert response == {
        "content": {
            "body": "Hello Bob\nThis is an email from GOV.UK",
            "from_email": "local.development@notifications.service.gov.uk",
            "one_click_unsubscribe_url": None,
            "subject": "Hello Bob",
        },
        "id": response["id"],
        "reference": "ref-1",
        "sanitised_content": {},
        "scheduled_for": None,
        "template": {
            "id": template_id,
            "uri": f"{sim.url}/services/{ZERO_CONFIG_SERVICE_ID}/templates/{template_id}",
            "version": 1,
        },
        "uri": f"{sim.url}/v2/notifications/{response['id']}",
    }


def test_the_unsubscribe_url_is_echoed(client: NotificationsAPIClient, template_id: str) -> None:
    response = client.send_email_notification(
        "a@example.com", template_id, {"name": "A"}, one_click_unsubscribe_url="https://example.com/unsub"
    )
    assert response["content"]["one_click_unsubscribe_url"] == "https://example.com/unsub"


@pytest.mark.parametrize("url", ["https://example.com/%C3%BC?a=1#top", "https://[::1]:8443/u", "https:opaque",
                                 "https://example.com/unsub\n"])
def test_unsubscribe_urls_notify_accepts(client: NotificationsAPIClient, template_id: str, url: str) -> None:
    response = client.send_email_notification("a@example.com", template_id, {"name": "A"},
                                              one_click_unsubscribe_url=url)
    assert response["content"]["one_click_unsubscribe_url"] == url


def test_content_type_is_ignored(sim: SimulatorServer, template_id: str) -> None:
    response = call(sim, "POST", EMAIL, key=sim.api_key(), data='{"email_address": "a@example.com", '
                    f'"template_id": "{template_id}", "personalisation": {{"name": "A"}}}}',
                    headers={"Content-Type": "text/plain"})
    assert response.status_code == 201


@pytest.mark.parametrize("data", ["not json", "", "a=b&c=d", "{"])
def test_invalid_json(sim: SimulatorServer, data: str) -> None:
    response = call(sim, "POST", EMAIL, key=sim.api_key(), data=data)
    v2_error(response, 400, "BadRequestError", "Invalid JSON supplied in POST data")


@pytest.mark.parametrize("body", ["null", "[]", "{}"])
def test_falsy_bodies_miss_both_required_properties(sim: SimulatorServer, body: str) -> None:
    response = call(sim, "POST", EMAIL, key=sim.api_key(), data=body)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"error": "ValidationError", "message": "email_address is a required property"},
        {"error": "ValidationError", "message": "template_id is a required property"},
    ]


@pytest.mark.parametrize(
    ("body", "message"), [([1], "[1] is not of type object"), ("str", "str is not of type object")]
)
def test_a_body_that_is_not_an_object(sim: SimulatorServer, body: Any, message: str) -> None:
    v2_error(post(sim, body), 400, "ValidationError", message)


VALID = {"email_address": "a@example.com", "template_id": "00000000-0000-4000-8000-000000000000"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email_address": "not-an-email"}, "email_address Not a valid email address"),
        ({"email_address": ""}, "email_address Not a valid email address"),
        ({"email_address": "a..b@example.com"}, "email_address Not a valid email address"),
        ({"email_address": "with(brackets)@example.com"}, "email_address Not a valid email address"),
        ({"email_address": 123}, "email_address 123 is not of type string"),
        ({"email_address": None}, "email_address None is not of type string"),
        ({"email_address": []}, "email_address [] is not of type string"),
        ({"email_address": {}}, "email_address {} is not of type string"),
        ({"template_id": "xyz"}, "template_id is not a valid UUID"),
        ({"template_id": 5}, "template_id is not a valid UUID"),
        ({"template_id": None}, "template_id is not a valid UUID"),
        ({"reference": 5}, "reference 5 is not of type string"),
        ({"reference": None}, "reference None is not of type string"),
        ({"reference": "r" * 1001}, f"reference {'r' * 1001} is too long"),
        ({"personalisation": "x"}, "personalisation x is not of type object"),
        ({"personalisation": ["x"]}, "personalisation [x] is not of type object"),
        ({"personalisation": None}, "personalisation None is not of type object"),
        ({"email_reply_to_id": "nope"}, "email_reply_to_id is not a valid UUID"),
        ({"email_reply_to_id": None}, "email_reply_to_id is not a valid UUID"),
        ({"one_click_unsubscribe_url": "http://example.com"}, "one_click_unsubscribe_url is not a valid https url"),
        ({"one_click_unsubscribe_url": "www.x.com"}, "one_click_unsubscribe_url is not a valid https url"),
        ({"one_click_unsubscribe_url": "https"}, "one_click_unsubscribe_url is not a valid https url"),
        ({"one_click_unsubscribe_url": None}, "one_click_unsubscribe_url is not a valid https url"),
        # rfc3987's URI rule, which Notify's schema uses: ASCII only, RFC 3986 characters and escapes.
        *[({"one_click_unsubscribe_url": url}, "one_click_unsubscribe_url is not a valid https url")
          for url in ("https://example.com/\u00fc", "https://example.com/a b", "https://example.com/%zz",
                      "https://[1:2]/", "https://example.com/{x}")],
        ({"sanitise_content_for": "name"}, "sanitise_content_for name is not of type array, null"),
        ({"sms_sender_id": "x"}, "Additional properties are not allowed (sms_sender_id was unexpected)"),
        ({"foo": 1, "bar": 2}, "Additional properties are not allowed (bar, foo were unexpected)"),
        ({"scheduled_for": "tomorrow"}, "scheduled_for datetime format is invalid. It must be a valid ISO8601 "
                                        "date time format, https://en.wikipedia.org/wiki/ISO_8601"),
        ({"scheduled_for": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
         "scheduled_for datetime can not be in the past"),
        ({"scheduled_for": (datetime.now(UTC) + timedelta(hours=25)).isoformat()},
         "scheduled_for datetime can only be 24 hours in the future"),
    ],
)
def test_schema_errors(sim: SimulatorServer, changes: dict[str, Any], message: str) -> None:
    v2_error(post(sim, {**VALID, **changes}), 400, "ValidationError", message)


def test_every_schema_error_is_reported_in_schema_order(sim: SimulatorServer) -> None:
    body = {"template_id": "xyz", "reference": 5, "personalisation": "x", "zzz": 1, "one_click_unsubscribe_url": "x"}
    assert messages_of(post(sim, body)) == [
        "reference 5 is not of type string",
        "template_id is not a valid UUID",
        "personalisation x is not of type object",
        "one_click_unsubscribe_url is not a valid https url",
        "email_address is a required property",
        "Additional properties are not allowed (zzz was unexpected)",
    ]


def test_scheduled_for_is_accepted_but_ignored(sim: SimulatorServer, template_id: str) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    response = post(sim, {**VALID, "template_id": template_id, "personalisation": {"name": "A"}, "scheduled_for": soon})
    assert response.status_code == 201
    assert response.json()["scheduled_for"] is None


def test_whitespace_around_the_address_is_stripped(client: NotificationsAPIClient, sim: SimulatorServer,
                                                    template_id: str) -> None:
    response = client.send_email_notification("  Bob@Example.com\u200b ", template_id, {"name": "B"})
    assert sim.message(response["id"])["to"] == "Bob@Example.com"  # type: ignore[index]


def test_a_service_without_email_permission(sim: SimulatorServer) -> None:
    service = sim.add_service(name="Texts only", permissions=["sms"], api_keys=[{"type": "test"}])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    client = NotificationsAPIClient(service["api_keys"][0]["key"], base_url=sim.url)
    with pytest.raises(HTTPError) as info:
        client.send_email_notification("a@example.com", template)
    assert info.value.message == [{"error": "BadRequestError", "message": "Service is not allowed to send emails"}]


def bad_request(client: NotificationsAPIClient, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(HTTPError) as info:
        client.send_email_notification(*args, **kwargs)
    assert info.value.status_code == 400
    [error] = info.value.message  # type: ignore[misc]
    assert error["error"] == "BadRequestError"
    return str(error["message"])


def test_template_errors(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    sms = sim.add_template(name="SMS", subject="", body="Text ((x))", type="sms")
    archived = sim.add_template(name="Old", subject="S", body="B", archived=True)
    hidden = sim.add_template(name="Hidden", subject="S", body="B", hidden=True)
    other = sim.add_service(name="Other")
    elsewhere = sim.add_template(other["id"], name="E", subject="S", body="B")
    assert bad_request(client, "a@example.com", "00000000-0000-4000-8000-000000000000") == "Template not found"
    assert bad_request(client, "a@example.com", elsewhere) == "Template not found"
    assert bad_request(client, "a@example.com", hidden) == "Template not found"
    assert bad_request(client, "a@example.com", sms) == "sms template is not suitable for email notification"
    assert bad_request(client, "a@example.com", archived) == "Template has been deleted"


def test_missing_personalisation_lists_subject_placeholders_first(sim: SimulatorServer,
                                                                  client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="((Title)) for ((name))", body="((body)) ((name)) ((opt??yes))")
    message = bad_request(client, "a@example.com", template, {"name": "x", "body": None})
    assert message == "Missing personalisation: Title, body, opt"


def test_personalisation_keys_ignore_case_spaces_underscores_and_hyphens(
    sim: SimulatorServer, client: NotificationsAPIClient
) -> None:
    template = sim.add_template(name="T", subject="Hi ((First Name))", body="((last_name)) ((post-code))")
    response = client.send_email_notification(
        "a@example.com", template, {"firstname": "Ann", "LAST NAME": "Lee", "Post_Code": ""}
    )
    assert response["content"]["subject"] == "Hi Ann"
    assert response["content"]["body"] == "Lee"


def test_conditional_placeholders(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="S", body="Start ((urgent??Act now.)) ((later??Later.))end")
    response = client.send_email_notification("a@example.com", template, {"urgent": "yes", "later": "no"})
    assert response["content"]["body"] == "Start Act now. end"
    # Notify does not strip the value: " yes" does not show the text.
    spaced = client.send_email_notification("a@example.com", template, {"urgent": " yes", "later": "True"})
    assert spaced["content"]["body"] == "Start  Later.end"


def test_list_values_become_bullets(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="S", body="Items:((items))")
    response = client.send_email_notification("a@example.com", template, {"items": ["one", "two"]})
    assert response["content"]["body"] == "Items:\n\n* one\n* two"


@pytest.mark.parametrize(
    ("items", "body", "subject"),
    [
        (["a", "b"], "Items:\n\n* a\n* b\nNext", "Hi a and b"),
        (["a", "b", "c"], "Items:\n\n* a\n* b\n* c\nNext", "Hi a, b and c"),
        (["a"], "Items:\n\n* a\nNext", "Hi a"),
        ([" a ", None, "", "\u200b", True], "Items:\n\n* a\n* True\nNext", "Hi a and True"),
        ([], "Items:\nNext", "Hi"),
    ],
)
def test_lists_as_notify_fills_them(sim: SimulatorServer, client: NotificationsAPIClient, items: list[Any],
                                    body: str, subject: str) -> None:
    # notifications-utils' Field: bullets with no blank line after them in the body, prose in the subject.
    template = sim.add_template(name="T", subject="Hi ((items))", body="Items:((items))\nNext")
    response = client.send_email_notification("a@example.com", template, {"items": items})
    assert response["content"]["body"] == body
    assert response["content"]["subject"] == subject


def test_subjects_are_normalised(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="  It's   ((x)) - \"done\"\n", body="B")
    response = client.send_email_notification("a@example.com", template, {"x": "nearly"})
    assert response["content"]["subject"] == "It\u2019s nearly \u2013 \u201cdone\u201d"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("rock 'n' roll -- it's \"live\" , really",
         "rock \u2018n\u2019 roll \u2013 it\u2019s \u201clive\u201d, really"),
        ("Email a@b.com's team: 'quoted'  \u2014  done", "Email a@b.com's team: \u2018quoted\u2019 \u2013 done"),
        ("<b>'x'</b> and <a href='y'>'z'</a>", "<b>\u2018x\u2019</b> and <a href='y'>'z'</a>"),
    ],
)
def test_subject_typography_is_notifys(sim: SimulatorServer, client: NotificationsAPIClient, subject: str,
                                       expected: str) -> None:
    # Pinned from notifications-utils' subject rendering (SmartyPants quotes, en dashes, spacing).
    template = sim.add_template(name="T", subject=subject, body="B")
    assert client.send_email_notification("a@example.com", template)["content"]["subject"] == expected


def test_an_empty_message(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="S", body="((content))")
    assert bad_request(client, "a@example.com", template, {"content": ""}) == "Your message is empty."


def test_a_message_too_long(sim: SimulatorServer, client: NotificationsAPIClient) -> None:
    template = sim.add_template(name="T", subject="S", body="x((content))")
    message = bad_request(client, "a@example.com", template, {"content": "y" * 2_000_000})
    assert message == ("Your message is too long. Emails cannot be longer than 2000000 bytes. "
                       "Your message is 2000001 bytes.")


def test_reply_to(sim: SimulatorServer) -> None:
    service = sim.add_service(name="Replies", api_keys=[{"type": "test"}], reply_to=[
        {"id": "11111111-1111-4111-8111-111111111111", "email_address": "help@example.gov.uk", "is_default": True},
    ])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    client = NotificationsAPIClient(service["api_keys"][0]["key"], base_url=sim.url)
    default = client.send_email_notification("a@example.com", template)
    assert sim.message(default["id"])["reply_to"] == "help@example.gov.uk"  # type: ignore[index]
    chosen = client.send_email_notification("a@example.com", template,
                                            email_reply_to_id="11111111-1111-4111-8111-111111111111")
    assert sim.message(chosen["id"])["reply_to"] == "help@example.gov.uk"  # type: ignore[index]
    unknown = "22222222-2222-4222-8222-222222222222"
    assert bad_request(client, "a@example.com", template, email_reply_to_id=unknown) == (
        f"email_reply_to_id {unknown} does not exist in database for service id {service['id']}"
    )


@pytest.mark.parametrize(
    ("value", "sanitised"),
    [
        ("3f2a5b6c-1d2e-4f3a-8b9c-0d1e2f3a4b5c", "3f2a5b6c\\-1d2e\\-4f3a\\-8b9c\\-0d1e2f3a4b5c"),
        ("Amala, please [click this evil link](https://evil.link)", "Amala, please \\[click this evil link\\]\\(\\)"),
        ("Marie.Curie-Sklodowska is rad", "Marie\\. Curie\\-Sklodowska is rad"),
    ],
)
def test_sanitise_content_for(sim: SimulatorServer, client: NotificationsAPIClient, value: str,
                              sanitised: str) -> None:
    template = sim.add_template(name="T", subject="S", body="((Name)) ((other))")
    response = client.send_email_notification(
        "a@example.com", template, {"Name": value, "other": "a.b"}, sanitise_content_for=["name"]
    )
    assert response["sanitised_content"] == {"Name": {"sanitised": sanitised, "unsanitised": value}}
    assert response["content"]["body"] == f"{sanitised} a.b"


def test_sanitising_a_non_string_is_a_500(sim: SimulatorServer, template_id: str) -> None:
    body = {**VALID, "template_id": template_id, "personalisation": {"name": 5}, "sanitise_content_for": ["name"]}
    v2_error(post(sim, body), 500, "TypeError", "Internal server error")


class TestSendAFile:
    @pytest.fixture
    def file_service(self, sim: SimulatorServer) -> tuple[NotificationsAPIClient, str]:
        service = sim.add_service(name="Files", contact_link="https://example.gov.uk/contact",
                                  api_keys=[{"type": "test"}])
        template = sim.add_template(service["id"], name="File", subject="Your file", body="Download: ((link))")
        return NotificationsAPIClient(service["api_keys"][0]["key"], base_url=sim.url), template

    def test_the_file_is_kept_and_linked(self, sim: SimulatorServer,
                                         file_service: tuple[NotificationsAPIClient, str]) -> None:
        client, template = file_service
        upload = prepare_upload(io.BytesIO(b"a,b\n1,2\n"), filename="report.csv")
        response = client.send_email_notification("a@example.com", template, {"link": upload})
        link = response["content"]["body"].removeprefix("Download: ")
        assert link.startswith(f"{sim.url}/_simulator/documents/")
        download = requests.get(link, timeout=5)
        assert download.content == b"a,b\n1,2\n"
        assert "report.csv" in download.headers["Content-Disposition"]

    def test_smoke_test_recipients_get_the_test_document(self, sim: SimulatorServer,
                                                         file_service: tuple[NotificationsAPIClient, str]) -> None:
        client, template = file_service
        upload = prepare_upload(io.BytesIO(b"x"), filename="a.txt")
        response = client.send_email_notification("simulate-delivered@notifications.service.gov.uk", template,
                                                  {"link": upload})
        assert response["content"]["body"].endswith("/documents/test-document")

    @pytest.mark.parametrize(
        ("file", "messages"),
        [
            ({"file": False}, ["file False is not of type string"]),
            ({"file": "eA==", "other": 1}, ["Additional properties are not allowed (other was unexpected)"]),
            ({"file": "eA==", "retention_period": "1 month"},
             ["retention_period Unsupported value for retention_period: 1 month. Supported periods are from 1 to "
              "78 weeks."]),
            ({"file": "eA==", "retention_period": "79 weeks"},
             ["retention_period Unsupported value for retention_period: 79 weeks. Supported periods are from 1 to "
              "78 weeks."]),
            ({"file": "eA==", "is_csv": "bad"},
             ["is_csv Unsupported value for is_csv: bad. Use a boolean true or false value."]),
            ({"file": "eA==", "confirm_email_before_download": "potato"},
             ["confirm_email_before_download Unsupported value for confirm_email_before_download: potato. Use a "
              "boolean true or false value."]),
            ({"file": "eA==", "filename": "filename"},
             ["filename `filename` must end with a file extension. For example, filename.csv"]),
            ({"file": "eA==", "filename": "a.csv", "is_csv": True},
             ["Do not set a value for `is_csv` if `filename` is set."]),
        ],
    )
    def test_file_validation(self, file_service: tuple[NotificationsAPIClient, str], file: dict[str, Any],
                             messages: list[str]) -> None:
        client, template = file_service
        with pytest.raises(HTTPError) as info:
            client.send_email_notification("a@example.com", template, {"link": file})
        assert info.value.message == [{"error": "ValidationError", "message": message} for message in messages]

    def test_a_service_without_a_contact_link(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        template = sim.add_template(name="File", subject="S", body="((link))")
        upload = {"file": base64.b64encode(b"x").decode()}
        assert bad_request(client, "a@example.com", template, {"link": upload}) == (
            "Send files by email has not been set up - add contact details for your service at "
            f"https://www.notifications.service.gov.uk/services/{ZERO_CONFIG_SERVICE_ID}/service-settings/"
            "send-files-by-email"
        )

    def test_a_dict_without_file_is_not_a_file(self, sim: SimulatorServer, client: NotificationsAPIClient) -> None:
        template = sim.add_template(name="T", subject="S", body="((link))")
        response = client.send_email_notification("a@example.com", template, {"link": {"name": "x"}})
        assert response["content"]["body"] == "{'name': 'x'}"
