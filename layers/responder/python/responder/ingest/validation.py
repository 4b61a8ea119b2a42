"""Hostile input, refused before anything is written: the parsed body and the normalised mention are bounded.

A signed body is only as trustworthy as the platform's encoder and whoever holds the secret, so every delivery
is checked in two passes, both linear in its size, before the first write:

1. `parse_delivery_body`: UTF-8, JSON per RFC 8259 (no `NaN`/`Infinity`), numbers finite and short, nesting
   no deeper than `MAX_DEPTH`, no string a UTF-8 encoder refuses (lone surrogates from `\\ud800` escapes).
2. `Mention.__post_init__` (see `model.py`) caps every field that is stored: ids by pattern and length, names,
   handles, captions and URLs by length, counts by range.

Errors name the field and the problem, never its value: the value may be a private message.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from responder.core.model import MalformedDelivery

# The platforms' documented payloads nest about eight levels (a Meta envelope around a WhatsApp message);
# DynamoDB documents allow 32. Deeper than that is no delivery of theirs.
MAX_DEPTH = 32
# X ids are 19 digits and arrive as JSON numbers in v1.1 objects; DynamoDB numbers carry 38 digits.
MAX_INTEGER_DIGITS = 38
# A float's literal (coordinates, scores); longer literals are refused before Python converts them.
MAX_NUMBER_CHARS = 40
# Meta sends up to 1,000 updates in one delivery; more than twice that is no delivery of theirs.
MAX_MENTIONS_PER_DELIVERY = 2_000

# A lone UTF-16 surrogate cannot be encoded as UTF-8 (the DynamoDB client would fail on it mid-batch).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise MalformedDelivery("body is not RFC 8259 JSON: NaN and Infinity are not numbers")


def _bounded_int(literal: str) -> int:
    digits = len(literal) - (literal[0] == "-")
    if digits > MAX_INTEGER_DIGITS:
        raise MalformedDelivery(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(literal)


def _bounded_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise MalformedDelivery(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise MalformedDelivery("a number is out of range")
    return value


def parse_delivery_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or MalformedDelivery saying which rule it broke (never quoting it)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedDelivery("body is not UTF-8") from exc
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_int=_bounded_int,
                          parse_float=_bounded_float)
    except json.JSONDecodeError as exc:
        raise MalformedDelivery(f"body is not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    except RecursionError as exc:
        raise MalformedDelivery(f"body nests deeper than {MAX_DEPTH} levels") from exc
    if not isinstance(body, dict):
        # A delivery is always an object. This is also what keeps X's CRC answer from ever being a valid
        # delivery signature: see signatures.CRC_TOKEN_PATTERN.
        raise MalformedDelivery("body must be a JSON object")
    check_tree(body)
    return body


def check_tree(body: Any) -> None:
    """Walk the parsed body once, without recursion: depth bounded, every string and key encodable."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise MalformedDelivery(f"body nests deeper than {MAX_DEPTH} levels")
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise MalformedDelivery("a field name is not valid Unicode (lone surrogate)")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise MalformedDelivery(f"body nests deeper than {MAX_DEPTH} levels")
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise MalformedDelivery("a string is not valid Unicode (lone surrogate)")
