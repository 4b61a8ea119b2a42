"""Python values to DynamoDB attribute values and back, as boto3's TypeSerializer and TypeDeserializer do.

Why not boto3's: `boto3.dynamodb.types` imports the whole of boto3 (its package `__init__` loads the session and
botocore's client machinery), which the webhook's cold start no longer pays for (see json_api.py). Same rules:
numbers through DynamoDB's decimal context (38 digits; inexact or rounded numbers refused, floats refused),
sets as SS/NS/BS, mappings as M, lists and tuples as L; read numbers come back as Decimal. Binary values are
`bytes` both ways. tests/unit/test_attributes.py holds the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number limits, the same context boto3 uses (38 digits, exponent -130..+125: DynamoDB developer guide,
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
DYNAMODB_CONTEXT = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal))


def _number(value: Any) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def _is_binary(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray))


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (`{"S": "x"}`, `{"N": "1"}`, ...)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if _is_binary(value):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(_is_binary(v) for v in value):
            return {"BS": [bytes(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: dict[str, Any]) -> Any:
    """One DynamoDB attribute value as a Python value (numbers as Decimal, sets as set)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    (kind, inner), = value.items()
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return inner
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(inner)
    if kind == "B":
        return bytes(inner)
    if kind == "SS":
        return set(inner)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(v) for v in inner}
    if kind == "BS":
        return {bytes(v) for v in inner}
    if kind == "L":
        return [deserialize(v) for v in inner]
    if kind == "M":
        return {k: deserialize(v) for k, v in inner.items()}
    raise TypeError(f"Dynamodb type {kind} is not supported")
