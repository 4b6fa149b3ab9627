"""The claims' evidence fields are strict: a tap is exactly what the tag mirrors, a code digits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.evidence import sun
from gateway.protocol import TagReading
from gateway.protocol.example import example_claims

PICC = "EF963FF7828658A599F3041510671E88"
MAC = "94EED9EE65337086"


def test_a_tap_as_the_tag_mirrors_it() -> None:
    assert TagReading(picc=PICC, mac=MAC).model_dump() == {"picc": PICC, "mac": MAC}


@pytest.mark.parametrize(
    "fields",
    [
        {"picc": PICC.lower(), "mac": MAC},
        {"picc": PICC, "mac": MAC.lower()},
        {"picc": PICC[:-2], "mac": MAC},
        {"picc": PICC, "mac": MAC + "00"},
        {"picc": PICC},
        {"picc": PICC, "mac": MAC, "uid": "04DE5F1EACC040"},
        {"uid": "04DE5F1EACC040"},
    ],
)
def test_anything_else_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        TagReading.model_validate(fields)


@pytest.mark.parametrize(
    "code, valid",
    [
        ("12345678", True),
        ("123456", True),
        ("12345", False),
        ("1234567a", False),
        ("12345678901", False),
    ],
)
def test_codes_are_six_to_ten_digits(code: str, valid: bool) -> None:
    claims = example_claims().model_dump(mode="json", exclude_none=True)
    claims["code"] = code
    if valid:
        assert type(example_claims()).model_validate_json(_json(claims)).code == code
    else:
        with pytest.raises(ValidationError):
            type(example_claims()).model_validate_json(_json(claims))


def test_the_worked_example_carries_the_an12196_tap() -> None:
    tag = example_claims().tag
    assert tag is not None
    message = sun.SunMessage(bytes.fromhex(tag.picc), bytes.fromhex(tag.mac))
    tap = sun.verify(bytes(16), bytes(16), message)
    assert (tap.uid_hex, tap.counter) == ("04DE5F1EACC040", 61)


def _json(claims: dict[str, object]) -> str:
    import json

    return json.dumps(claims)
