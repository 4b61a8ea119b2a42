"""The attribute serializer without boto3: the same answers as boto3's TypeSerializer and TypeDeserializer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from responder.aws.attributes import deserialize, serialize

VALUES = [
    None, True, False, 0, -7, 2**63, Decimal("3.14"), Decimal("1E+126"), Decimal("-1E-128"), "", "text ✓",
    b"\x00\xff", bytearray(b"ab"), {"a": 1, "b": [1, "x", None, {"c": Decimal("0.5")}]}, [], (1, 2), {"nested": {}},
    {1, 2, 3}, {"x", "y"}, {b"a", b"b"}, [True, {"deep": [b"z"]}],
]


def _plain(value):
    """boto3 wraps binary values in Binary; ours are bytes: compare the bytes."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def _normalised(attribute):
    """Sets have no order: compare their members sorted."""
    if isinstance(attribute, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else _normalised(v) for k, v in attribute.items()}
    if isinstance(attribute, list):
        return [_normalised(v) for v in attribute]
    return _plain(attribute)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_serialize_and_deserialize_answer_as_boto3_does(value):
    # Given a value of every kind the table can hold
    # When both serializers write it and both deserializers read it back
    ours, theirs = serialize(value), TypeSerializer().serialize(value)
    # Then the attribute values and the values read back are the same
    assert _normalised(ours) == _normalised(theirs)
    assert _plain(deserialize(ours)) == _plain(TypeDeserializer().deserialize(theirs))


@pytest.mark.parametrize("value", [1.5, Decimal("1.000000000000000000000000000000000000001"), Decimal("1E+127"),
                                   Decimal("NaN"), object(), {1, "x"}, {"a": 0.1}],
                         ids=["float", "inexact", "overflow", "nan", "object", "mixed set", "nested float"])
def test_what_boto3_refuses_is_refused(value):
    # Given a value boto3 refuses (floats, numbers DynamoDB cannot hold exactly, unknown types)
    with pytest.raises(Exception) as theirs:
        TypeSerializer().serialize(value)
    # When ours serializes it, Then it is refused with an error of the same family
    with pytest.raises(Exception) as ours:
        serialize(value)
    refusals = (TypeError, ArithmeticError)
    assert isinstance(ours.value, refusals) and isinstance(theirs.value, refusals)
