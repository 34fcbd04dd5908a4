"""The receipt schemas load as marshmallow's own loop and field validation would: the
same values, the same errors, on generated bodies (valid, broken and hostile)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from flask_dm_email import receipt_schemas
from flask_dm_email.receipt_schemas import ComplaintSchema, DeliveryReceiptSchema

from .conftest import make_complaint, make_receipt

UUID = "740e5834-3a29-46b4-9a6f-16142fde533a"
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from([UUID, UUID.upper(), f"{UUID}\n", "someone@example.gov.uk", "not an address", " ", "", "1"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@contextmanager
def stock_marshmallow() -> Iterator[None]:
    """Marshmallow's own field validation, for the duration."""
    with mock.patch.object(receipt_schemas._Checked, "_validate", fields.Field._validate):
        yield


def outcome(schema: Schema, data: Any) -> tuple[str, Any, Any]:
    try:
        return "ok", schema.load(data), None
    except ValidationError as error:
        return "error", error.messages, error.valid_data


def bodies(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from([*valid, "new_field", "to "])
    changed = st.builds(
        lambda drops, changes: {**{k: v for k, v in valid.items() if k not in drops}, **changes},
        st.sets(st.sampled_from(list(valid)), max_size=3),
        st.dictionaries(keys, VALUES, max_size=3),
    )
    return st.one_of(changed, st.dictionaries(keys, VALUES, max_size=12), st.lists(VALUES, max_size=2), VALUES)


@pytest.mark.parametrize(
    ("schema_class", "valid"),
    [(DeliveryReceiptSchema, make_receipt()), (ComplaintSchema, make_complaint())],
    ids=["receipt", "complaint"],
)
def test_loads_as_marshmallow_does(schema_class: type[Schema], valid: dict[str, Any]) -> None:
    class Stock(schema_class):  # type: ignore[valid-type,misc]
        _deserialize = Schema._deserialize

    ours, stock = schema_class(), Stock()

    @settings(max_examples=400, deadline=None)
    @given(bodies(valid))
    def check(data: Any) -> None:
        with stock_marshmallow():
            expected = outcome(stock, data)
        assert outcome(ours, data) == expected

    check()
    assert outcome(ours, valid)[0] == "ok"


def test_many_and_partial_are_marshmallow_s_own() -> None:
    schema = DeliveryReceiptSchema()
    receipt = make_receipt()
    assert schema.load([receipt, receipt], many=True) == [schema.load(receipt)] * 2
    assert schema.load({"status": "delivered"}, partial=True) == {"status": "delivered"}


def test_a_flat_schema_refuses_a_field_loaded_from_another_key() -> None:
    with pytest.raises(TypeError, match="load from their own key"):

        class Renamed(receipt_schemas._FlatSchema):
            notify_id = fields.String(data_key="id")

        Renamed()
