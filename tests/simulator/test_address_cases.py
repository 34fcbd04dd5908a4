"""The simulator's own address rules against the table the client side's tests run too
(``tests/address_cases.py``): both follow notifications-utils, separately."""

from __future__ import annotations

import pytest

from flask_dm_email.simulator.addresses import is_valid_email_address, strip_address

from ..address_cases import INVALID, VALID


@pytest.mark.parametrize(("address", "stored"), VALID)
def test_valid(address: str, stored: str) -> None:
    assert is_valid_email_address(address)
    assert strip_address(address) == stored


@pytest.mark.parametrize("address", INVALID)
def test_invalid(address: str) -> None:
    assert not is_valid_email_address(address)
