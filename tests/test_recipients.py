"""The recipient policy and Notify's address rules, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_dm_email import EmailInvalidError, RecipientNotAllowedError
from flask_dm_email.helpers import hash_string
from flask_dm_email.recipients import (
    RecipientPolicy,
    is_valid_email_address,
    normalise_allow_list,
    resolve_recipient,
    validate_email_address,
)

from .address_cases import INVALID, VALID

SAFE = "success@simulator.amazonses.com"

@pytest.mark.parametrize(("address", "stored"), VALID)
def test_valid_addresses(address: str, stored: str) -> None:
    assert is_valid_email_address(address)
    assert validate_email_address(address) == stored


@pytest.mark.parametrize("address", INVALID)
def test_invalid_addresses_fail_fast_without_echo(address: str) -> None:
    assert not is_valid_email_address(address)
    with pytest.raises(EmailInvalidError) as info:
        validate_email_address(address)
    if address:
        assert address not in str(info.value)
    assert "to is not a valid email address" in str(info.value)


def test_non_strings_are_invalid() -> None:
    with pytest.raises(EmailInvalidError, match="must be an email address string, not int"):
        validate_email_address(123)


REDIRECTS = {"example.com": SAFE, "user.marketplace.team": SAFE}


@pytest.mark.parametrize(
    "address",
    ["someone@example.com", "Someone@EXAMPLE.COM", "odd@name@example.com", "10405@user.marketplace.team"],
)
def test_safe_domains_are_redirected(address: str) -> None:
    decision = resolve_recipient(address, RecipientPolicy(redirects=REDIRECTS))
    assert decision.address == SAFE
    assert decision.redirected
    assert decision.reason is not None and "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS" in decision.reason
    assert address not in decision.reason and address not in repr(decision)


@pytest.mark.parametrize("address", ["someone@example.com.evil.org", "someone@sub.example.com", "example.com@gov.uk"])
def test_only_the_exact_domain_after_the_rightmost_at_is_redirected(address: str) -> None:
    decision = resolve_recipient(address, RecipientPolicy(redirects=REDIRECTS))
    assert decision.address == address
    assert not decision.redirected


ALLOW = normalise_allow_list(["Named.Person@Digital.Cabinet-Office.gov.uk", "@team.gov.uk"])


@pytest.mark.parametrize("address", ["named.person@digital.cabinet-office.gov.uk", "ANYONE@Team.gov.uk"])
def test_allow_list_admits_exact_addresses_and_domains(address: str) -> None:
    assert resolve_recipient(address, RecipientPolicy(allowed=ALLOW)).address == address


@pytest.mark.parametrize(
    "address", ["other@digital.cabinet-office.gov.uk", "x@sub.team.gov.uk", "x@team.gov.uk.evil.com"]
)
def test_allow_list_refuses_everyone_else_without_naming_them(address: str) -> None:
    with pytest.raises(RecipientNotAllowedError) as info:
        resolve_recipient(address, RecipientPolicy(allowed=ALLOW, stage="staging"))
    assert address not in str(info.value)
    assert hash_string(address) in str(info.value)
    assert "staging" in str(info.value)


def test_redirect_targets_need_no_allow_list_entry() -> None:
    policy = RecipientPolicy(redirects=REDIRECTS, allowed=ALLOW)
    assert resolve_recipient("tester@example.com", policy).address == SAFE


local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.+_-", min_size=1, max_size=20).filter(
    lambda s: ".." not in s
)
domains = st.sampled_from(
    ["example.com", "EXAMPLE.com", "gov.uk", "digital.cabinet-office.gov.uk", "user.marketplace.team"]
)


@given(local=local_parts, domain=domains)
def test_redirect_depends_only_on_the_domain(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    decision = resolve_recipient(address, RecipientPolicy(redirects=REDIRECTS))
    assert decision.redirected == (domain.lower() in REDIRECTS)
    assert decision.address == (SAFE if decision.redirected else address)


@given(local=local_parts, domain=domains)
def test_policy_never_invents_an_address(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    policy = RecipientPolicy(redirects=REDIRECTS, allowed=normalise_allow_list(["@gov.uk"]))
    try:
        decision = resolve_recipient(address, policy)
    except RecipientNotAllowedError:
        assert domain.lower() not in REDIRECTS and domain.lower() != "gov.uk"
    else:
        assert decision.address in (address, SAFE)
