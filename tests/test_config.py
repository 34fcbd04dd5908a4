"""Settings: sources, parsing, validation, and every row of the stage table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest
from flask import Flask

from flask_dm_email import DMEmail, EmailConfigError
from flask_dm_email.config import STAGE_RULES, Stage, load_settings

from .conftest import KEY, TEMPLATE_ID, TOKEN

LIVE_OK = {
    "DM_NOTIFY_KEY": KEY,
    "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {},
    "DM_NOTIFY_CALLBACK_TOKEN": TOKEN,
    "DM_EMAIL_LIMITER_URL": "memory",
}


def problems(config: dict[str, object], environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(EmailConfigError) as info:
        load_settings(config, environ or {"DM_DOTENV_PATH": "/nonexistent"})
    text = str(info.value)
    for secret in (KEY, TOKEN, "3d844edf-8d35-48ac-975b-e847b4f122b0", "short"):
        assert secret not in text
    return info.value.problems


def load(config: dict[str, object], environ: dict[str, str] | None = None, **kw: bool):  # type: ignore[no-untyped-def]
    return load_settings(config, environ or {"DM_DOTENV_PATH": "/nonexistent"}, **kw)


class TestStageTable:
    def test_development_without_key_logs(self) -> None:
        settings = load({})
        assert settings.stage is Stage.DEVELOPMENT
        assert settings.backend == "log"

    def test_development_with_key_sends_through_notify(self) -> None:
        assert load({"DM_NOTIFY_KEY": KEY}).backend == "notify"

    def test_local_is_an_alias_of_development(self) -> None:
        assert load({"DM_ENVIRONMENT": "local"}).stage is Stage.DEVELOPMENT

    def test_test_stage_uses_memory_and_ignores_the_key(self) -> None:
        settings = load({"DM_ENVIRONMENT": "test", "DM_NOTIFY_KEY": KEY})
        assert settings.backend == "memory"
        assert settings.notify_key is None

    def test_flask_testing_defaults_to_the_test_stage(self) -> None:
        assert load({}, testing=True).stage is Stage.TEST

    def test_test_stage_may_opt_into_notify_with_a_key(self) -> None:
        settings = load({"DM_ENVIRONMENT": "test", "DM_EMAIL_BACKEND": "notify", "DM_NOTIFY_KEY": KEY})
        assert settings.backend == "notify" and settings.notify_key == KEY

    def test_notify_backend_needs_a_key_everywhere(self) -> None:
        found = problems({"DM_ENVIRONMENT": "test", "DM_EMAIL_BACKEND": "notify"})
        assert [k for k, _ in found] == ["DM_NOTIFY_KEY"]

    @pytest.mark.parametrize("stage", ["preview", "staging", "production"])
    def test_live_stages_default_to_notify(self, stage: str) -> None:
        assert load({"DM_ENVIRONMENT": stage, **LIVE_OK}).backend == "notify"

    @pytest.mark.parametrize("stage", ["preview", "staging", "production"])
    def test_live_stages_require_a_key(self, stage: str) -> None:
        config = {**LIVE_OK, "DM_ENVIRONMENT": stage}
        del config["DM_NOTIFY_KEY"]
        found = problems(config)
        assert found[0][0] == "DM_NOTIFY_KEY"
        assert f"required on {stage}" in found[0][1]

    @pytest.mark.parametrize("stage", ["preview", "staging"])
    def test_preview_and_staging_require_a_redirect_map(self, stage: str) -> None:
        config = {**LIVE_OK, "DM_ENVIRONMENT": stage}
        del config["DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"]
        assert [k for k, _ in problems(config)] == ["DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"]

    @pytest.mark.parametrize("stage", ["preview", "staging"])
    def test_an_explicitly_empty_redirect_map_is_enough(self, stage: str) -> None:
        assert load({**LIVE_OK, "DM_ENVIRONMENT": stage}).redirects == {}

    def test_production_allows_a_redirect_map_but_does_not_need_one(self) -> None:
        config = {**LIVE_OK, "DM_ENVIRONMENT": "production"}
        del config["DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"]
        assert load(config).redirects is None
        config["DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"] = "example.com=safe@example.gov.uk"
        assert load(config).redirects == {"example.com": "safe@example.gov.uk"}

    def test_production_refuses_an_allow_list(self) -> None:
        found = problems({**LIVE_OK, "DM_ENVIRONMENT": "production", "DM_NOTIFY_ALLOWED_RECIPIENTS": "@example.gov.uk"})
        assert [k for k, _ in found] == ["DM_NOTIFY_ALLOWED_RECIPIENTS"]
        assert "Remove it" in found[0][1]

    @pytest.mark.parametrize("stage", ["development", "test", "preview", "staging"])
    def test_other_stages_take_an_allow_list(self, stage: str) -> None:
        settings = load(
            {**LIVE_OK, "DM_ENVIRONMENT": stage, "DM_NOTIFY_ALLOWED_RECIPIENTS": "A@Example.gov.uk, @team.gov.uk"}
        )
        assert settings.allowed_recipients == frozenset({"a@example.gov.uk", "@team.gov.uk"})

    @pytest.mark.parametrize("stage", ["preview", "staging", "production"])
    def test_live_stages_require_a_callback_token_while_mounted(self, stage: str) -> None:
        config = {**LIVE_OK, "DM_ENVIRONMENT": stage}
        del config["DM_NOTIFY_CALLBACK_TOKEN"]
        assert [k for k, _ in problems(config)] == ["DM_NOTIFY_CALLBACK_TOKEN"]
        config["DM_NOTIFY_CALLBACKS_ENABLED"] = "false"
        assert load(config).callbacks_enabled is False

    @pytest.mark.parametrize("stage", ["preview", "staging", "production"])
    @pytest.mark.parametrize("backend", ["log", "memory"])
    def test_live_stages_refuse_backends_that_drop_email(self, stage: str, backend: str) -> None:
        found = problems({**LIVE_OK, "DM_ENVIRONMENT": stage, "DM_EMAIL_BACKEND": backend})
        assert [k for k, _ in found] == ["DM_EMAIL_BACKEND"]

    def test_every_stage_has_a_rule(self) -> None:
        assert set(STAGE_RULES) == set(Stage)


class TestErrors:
    def test_a_malformed_key_is_refused_without_echoing_it(self) -> None:
        bad = "my_key-not-a-real-key-3d844edf-8d35-48ac-975b-e847b4f122b0"
        with pytest.raises(EmailConfigError) as info:
            load({"DM_NOTIFY_KEY": bad})
        assert bad not in str(info.value)
        assert "3d844edf" not in str(info.value)
        assert "DM_NOTIFY_KEY" in str(info.value)
        assert "{key name}-{service id}-{secret}" in str(info.value)

    def test_unknown_stage(self) -> None:
        found = problems({"DM_ENVIRONMENT": "prod"})
        assert found[0][0] == "DM_ENVIRONMENT"
        assert "production" in found[0][1]

    def test_unknown_backend(self) -> None:
        assert problems({"DM_EMAIL_BACKEND": "smtp"})[0] == ("DM_EMAIL_BACKEND", "must be one of notify, log, memory.")

    def test_template_ids_must_be_uuids(self) -> None:
        found = problems({"DM_NOTIFY_TEMPLATES": {"welcome": "not-an-id"}})
        assert found[0][0] == "DM_NOTIFY_TEMPLATES"
        assert "'welcome'" in found[0][1]

    def test_redirect_targets_must_be_valid_and_are_not_echoed(self) -> None:
        found = problems({"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {"example.com": "person@nowhere"}})
        assert found[0][0] == "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"
        assert "person@nowhere" not in found[0][1]

    def test_redirect_domains_must_be_domains(self) -> None:
        found = problems({"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": "not a domain=a@example.com"})
        assert "is not a domain name" in found[0][1]

    def test_redirect_string_without_pairs(self) -> None:
        found = problems({"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": "example.com"})
        assert found[0][0] == "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"
        assert "name=value" in found[0][1]

    def test_bad_json(self) -> None:
        found = problems({"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": '{"example.com": '})
        assert "not valid JSON" in found[0][1]

    def test_allow_list_entries_are_checked_without_echo(self) -> None:
        found = problems({"DM_NOTIFY_ALLOWED_RECIPIENTS": "someone@@example.com"})
        assert found[0][0] == "DM_NOTIFY_ALLOWED_RECIPIENTS"
        assert "someone" not in found[0][1]

    def test_short_callback_tokens_are_refused(self) -> None:
        found = problems({"DM_NOTIFY_CALLBACK_TOKEN": "short"})
        assert found[0][0] == "DM_NOTIFY_CALLBACK_TOKEN"
        assert "at least 10" in found[0][1]

    def test_callback_prefix_shape(self) -> None:
        assert problems({"DM_NOTIFY_CALLBACK_PREFIX": "callbacks"})[0][0] == "DM_NOTIFY_CALLBACK_PREFIX"

    def test_base_url(self) -> None:
        found = problems({"DM_NOTIFY_BASE_URL": "api.notifications"})
        assert found[0][0] == "DM_NOTIFY_BASE_URL"
        assert "API root" in found[0][1]

    @pytest.mark.parametrize(
        ("key", "value"),
        [("DM_NOTIFY_TIMEOUT", "0"), ("DM_NOTIFY_MAX_ATTEMPTS", "zero"), ("DM_NOTIFY_RETRY_DEADLINE", "-1")],
    )
    def test_retry_settings(self, key: str, value: str) -> None:
        assert problems({key: value})[0][0] == key

    def test_every_problem_is_reported_at_once(self) -> None:
        found = problems(
            {"DM_ENVIRONMENT": "staging", "DM_NOTIFY_TEMPLATES": {"a": "b"}, "DM_NOTIFY_CALLBACK_TOKEN": "short"}
        )
        keys = {k for k, _ in found}
        assert {
            "DM_NOTIFY_TEMPLATES",
            "DM_NOTIFY_CALLBACK_TOKEN",
            "DM_NOTIFY_KEY",
            "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS",
        } <= keys

    def test_both_key_spellings_with_different_values(self) -> None:
        other = KEY.replace("my_key", "other")
        found = problems({"DM_NOTIFY_KEY": KEY, "DM_NOTIFY_API_KEY": other})
        assert found[0][0] == "DM_NOTIFY_KEY"
        assert "DM_NOTIFY_API_KEY" in found[0][1]

    def test_init_app_raises_config_errors(self, make_app: Callable[..., Flask]) -> None:
        with pytest.raises(EmailConfigError, match="DM_NOTIFY_KEY: is required on production"):
            make_app(DM_ENVIRONMENT="production")


class TestParsing:
    def test_redirects_from_json_and_pairs_agree(self) -> None:
        as_json = load(
            {
                "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": '{"Example.COM": "a@b.gov.uk", '
                '"user.marketplace.team": "a@b.gov.uk"}'
            }
        )
        as_pairs = load(
            {"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": "example.com=a@b.gov.uk, @user.marketplace.team=a@b.gov.uk"}
        )
        as_dict = load(
            {
                "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {
                    "example.com": "a@b.gov.uk",
                    "user.marketplace.team": "a@b.gov.uk",
                }
            }
        )
        assert (
            as_json.redirects
            == as_pairs.redirects
            == as_dict.redirects
            == {
                "example.com": "a@b.gov.uk",
                "user.marketplace.team": "a@b.gov.uk",
            }
        )

    def test_templates_from_the_environment(self) -> None:
        settings = load({}, {"DM_NOTIFY_TEMPLATES": f"welcome={TEMPLATE_ID}", "DM_DOTENV_PATH": "/nonexistent"})
        assert settings.templates == {"welcome": TEMPLATE_ID}
        assert settings.sources["DM_NOTIFY_TEMPLATES"] == "environment"

    def test_several_callback_tokens(self) -> None:
        settings = load({"DM_NOTIFY_CALLBACK_TOKEN": f"{TOKEN}, {TOKEN}-new"})
        assert settings.callback_tokens == (TOKEN, f"{TOKEN}-new")

    def test_api_key_alias(self) -> None:
        settings = load({}, {"DM_NOTIFY_API_KEY": KEY, "DM_DOTENV_PATH": "/nonexistent"})
        assert settings.notify_key == KEY
        assert settings.sources["DM_NOTIFY_KEY"] == "environment (DM_NOTIFY_API_KEY)"

    def test_config_wins_over_environment(self) -> None:
        settings = load(
            {"DM_NOTIFY_BASE_URL": "http://127.0.0.1:6011/"},
            {"DM_NOTIFY_BASE_URL": "http://other:1", "DM_DOTENV_PATH": "/x"},
        )
        assert settings.notify_base_url == "http://127.0.0.1:6011"
        assert settings.sources["DM_NOTIFY_BASE_URL"] == "config"
        assert settings.sources["DM_NOTIFY_TIMEOUT"] == "default"


class TestDotenv:
    @pytest.fixture
    def dotenv(self, tmp_path: Path) -> Path:
        path = tmp_path / ".env"
        path.write_text(f"DM_NOTIFY_KEY={KEY}\nDM_NOTIFY_TEMPLATES=welcome={TEMPLATE_ID}\n")
        return path

    def test_read_on_development(self, dotenv: Path) -> None:
        settings = load({}, {"DM_DOTENV_PATH": str(dotenv)})
        assert settings.notify_key == KEY
        assert settings.backend == "notify"
        assert settings.sources["DM_NOTIFY_KEY"] == ".env"

    def test_never_overrides_the_real_environment(self, dotenv: Path) -> None:
        other = f"{TEMPLATE_ID[:-1]}0"
        settings = load({}, {"DM_DOTENV_PATH": str(dotenv), "DM_NOTIFY_TEMPLATES": f"welcome={other}"})
        assert settings.templates == {"welcome": other}

    def test_not_written_into_os_environ(self, dotenv: Path) -> None:
        import os

        load({}, {"DM_DOTENV_PATH": str(dotenv)})
        assert "DM_NOTIFY_TEMPLATES" not in os.environ

    @pytest.mark.parametrize("stage", ["test", "preview", "staging", "production"])
    def test_ignored_on_other_stages(self, dotenv: Path, stage: str) -> None:
        settings = load(
            {
                "DM_ENVIRONMENT": stage,
                "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {},
                "DM_NOTIFY_CALLBACKS_ENABLED": False,
                "DM_EMAIL_BACKEND": "notify",
                "DM_NOTIFY_KEY": KEY.replace("my_key", "real"),
                "DM_EMAIL_LIMITER_URL": "memory",
            },
            {"DM_DOTENV_PATH": str(dotenv)},
        )
        assert settings.templates == {}
        assert settings.dotenv_path is None

    def test_a_dotenv_cannot_promote_the_stage(self, tmp_path: Path) -> None:
        path = tmp_path / ".env"
        path.write_text("DM_ENVIRONMENT=production\n")
        found = problems({}, {"DM_DOTENV_PATH": str(path)})
        assert found[0][0] == "DM_ENVIRONMENT"
        assert "only read on the development stage" in found[0][1]


def test_two_apps_on_different_stages_share_one_extension(make_app: Callable[..., Flask]) -> None:
    extension = DMEmail()
    dev = make_app(extension)
    live = make_app(extension, DM_ENVIRONMENT="staging", **LIVE_OK)
    assert dev.extensions["dm_email"].settings.stage is Stage.DEVELOPMENT
    assert live.extensions["dm_email"].settings.stage is Stage.STAGING
    assert dev.extensions["dm_email"].backend.name == "log"
    assert live.extensions["dm_email"].backend.name == "notify"


class TestNoPersonalDataInErrors:
    """Config mistakes that put an address where a domain belongs: the message names the
    key and the shape expected, never the address."""

    @pytest.mark.parametrize(
        "redirects",
        [
            {"someone@example.gov.uk": "success@simulator.amazonses.com"},
            "someone@example.gov.uk=success@simulator.amazonses.com",
            {"@someone@example.gov.uk": "success@simulator.amazonses.com"},
        ],
    )
    def test_a_redirect_key_that_is_an_address(self, redirects: object) -> None:
        found = problems({"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": redirects})
        assert found[0][0] == "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"
        assert "someone" not in found[0][1]
        assert "is an email address, not a domain" in found[0][1]
        assert "e.g. example.com" in found[0][1]

    @pytest.mark.parametrize("entry", ["@someone@example.gov.uk", "@some one.gov.uk", "someone@@example.gov.uk"])
    def test_a_malformed_allow_list_entry(self, entry: str) -> None:
        found = problems({"DM_NOTIFY_ALLOWED_RECIPIENTS": entry})
        assert found[0][0] == "DM_NOTIFY_ALLOWED_RECIPIENTS"
        assert "someone" not in found[0][1] and "some one" not in found[0][1]
        assert "@example.gov.uk" in found[0][1]


class TestUnicodeDomainsInConfig:
    def test_redirect_keys_are_folded_to_the_domain_notify_delivers_to(self) -> None:
        settings = load(
            {
                "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {
                    "ＥＸＡＭＰＬＥ.com": "success@simulator.amazonses.com",
                    "bücher.example": "success@simulator.amazonses.com",
                    "@Team。gov.uk": "success@simulator.amazonses.com",
                }
            }
        )
        assert set(settings.redirects or {}) == {"example.com", "xn--bcher-kva.example", "team.gov.uk"}

    def test_two_spellings_of_one_domain_with_different_targets(self) -> None:
        found = problems(
            {
                "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {
                    "example.com": "success@simulator.amazonses.com",
                    "ｅｘａｍｐｌｅ.com": "other@simulator.amazonses.com",
                }
            }
        )
        assert found == [
            (
                "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS",
                "two keys are spellings of the domain example.com with different safe addresses. Keep one.",
            )
        ]

    def test_an_ambiguous_key_is_refused(self) -> None:
        found = problems({"DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {"straße.de": "success@simulator.amazonses.com"}})
        assert found[0][0] == "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS"
        assert "xn--" in found[0][1]


class TestBaseUrlOnLiveStages:
    LIVE: ClassVar[dict[str, object]] = {
        "DM_NOTIFY_KEY": "my_key-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0",
        "DM_NOTIFY_CALLBACK_TOKEN": "a-callback-token-of-enough-length",
        "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {},
        "DM_EMAIL_LIMITER_URL": "memory",
    }

    @pytest.mark.parametrize("stage", ["preview", "staging", "production"])
    def test_plain_http_is_refused(self, stage: str) -> None:
        found = problems(
            {**self.LIVE, "DM_ENVIRONMENT": stage, "DM_NOTIFY_BASE_URL": "http://api.notifications.service.gov.uk"}
        )
        assert [key for key, _ in found] == ["DM_NOTIFY_BASE_URL"]
        assert "https" in found[0][1]

    @pytest.mark.parametrize("url", ["http://127.0.0.1:6011", "http://localhost:6011", "http://[::1]:6011"])
    def test_loopback_http_is_allowed(self, url: str) -> None:
        assert load({**self.LIVE, "DM_ENVIRONMENT": "staging", "DM_NOTIFY_BASE_URL": url}).notify_base_url == url

    def test_development_may_use_http(self) -> None:
        assert load({"DM_NOTIFY_BASE_URL": "http://sim.internal:6011"}).notify_base_url == "http://sim.internal:6011"


class TestStageNames:
    @pytest.mark.parametrize(
        ("name", "stage"),
        [("local", "development"), (" Production ", "production"), ("STAGING", "staging"), ("prod", None)],
    )
    def test_one_function_reads_every_stage_name(self, name: str, stage: str | None) -> None:
        from flask_dm_email.stages import resolve_stage

        assert resolve_stage(name) == (Stage(stage) if stage else None)

    def test_the_default_backend_follows_the_table(self) -> None:
        for stage, rule in STAGE_RULES.items():
            config: dict[str, object] = {"DM_ENVIRONMENT": stage.value, "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": {}}
            if stage.is_live:
                config |= {"DM_NOTIFY_KEY": KEY, "DM_NOTIFY_CALLBACK_TOKEN": TOKEN, "DM_EMAIL_LIMITER_URL": "memory"}
            assert load(config).backend == rule.backend_for(stage.is_live)
            if stage is Stage.DEVELOPMENT:
                assert load({**config, "DM_NOTIFY_KEY": KEY}).backend == rule.backend_for(True) == "notify"

    def test_the_example_app_reads_its_stage_through_the_public_reader(self) -> None:
        from flask_dm_email.config import read_raw_settings

        raw, problems, _ = read_raw_settings({"DM_ENVIRONMENT": "local"}, {})
        assert raw.stage is Stage.DEVELOPMENT and problems == []
        assert read_raw_settings({}, {}, testing=True)[0].stage is Stage.TEST


@pytest.mark.parametrize(
    ("key", "value", "example"),
    [
        ("DM_NOTIFY_TIMEOUT", "ten", "DM_NOTIFY_TIMEOUT=10"),
        ("DM_NOTIFY_MAX_ATTEMPTS", "three", "DM_NOTIFY_MAX_ATTEMPTS=3"),
        ("DM_NOTIFY_RETRY_DEADLINE", "soon", "DM_NOTIFY_RETRY_DEADLINE=20"),
        ("DM_EMAIL_RETENTION_DAYS", "a week", "DM_EMAIL_RETENTION_DAYS=7"),
        ("DM_EMAIL_LEASE_SECONDS", "long", "DM_EMAIL_LEASE_SECONDS=120"),
        ("DM_EMAIL_EMBEDDED_WORKER", "maybe", "true or false"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_shows_a_valid_one(key: str, value: str, example: str) -> None:
    [(found_key, message)] = problems({key: value})
    assert found_key == key
    assert example in message
