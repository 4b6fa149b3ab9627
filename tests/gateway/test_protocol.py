"""Wire protocol v1: JWS EdDSA as RFC 7515/8037 define it, and the claims' schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from gateway.protocol import (
    EventClaims,
    EventType,
    Rejected,
    Rejection,
    b64url_decode,
    b64url_encode,
    device_from_topic,
    events_subscription,
    events_topic,
    parse_compact,
    public_key_from_b64,
    public_key_to_b64,
    sign_compact,
)
from gateway.protocol.example import TEST_PRIVATE_KEY_D, worked_example

# RFC 8037 appendix A.1 (key) and A.4 (signature of "Example of Ed25519 signing").
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)


def rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b64url_decode(TEST_PRIVATE_KEY_D))


def test_signing_reproduces_the_rfc8037_test_vector() -> None:
    key = rfc_key()
    assert public_key_to_b64(key.public_key()) == RFC8037_X
    assert sign_compact(b"Example of Ed25519 signing", key, kid=None) == RFC8037_JWS


def test_rfc8037_vector_verifies_once_a_kid_is_required() -> None:
    # The RFC's example has no kid; our protocol needs one to find the device's key.
    with pytest.raises(Rejected) as caught:
        parse_compact(RFC8037_JWS.encode())
    assert caught.value.reason is Rejection.MISSING_KID


def test_round_trip_verifies_and_yields_the_claims() -> None:
    key = Ed25519PrivateKey.generate()
    claims = EventClaims.build(
        event_id=uuid4(),
        device_id="D1",
        carer_id="C1",
        seq=7,
        type=EventType.CHECK_OUT,
        device_time=datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        service_user_id="SU1",
    )
    signed = parse_compact(sign_compact(claims.to_json(), key, kid="D1").encode())
    signed.verify(public_key_from_b64(public_key_to_b64(key.public_key())))
    assert signed.kid == "D1"
    assert EventClaims.model_validate_json(signed.payload) == claims


def test_a_changed_byte_breaks_the_signature() -> None:
    token = sign_compact(b'{"x":1}', rfc_key(), kid="D1")
    header, _, signature = token.split(".")
    other_payload = b64url_encode(b'{"x":2}')
    forged = f"{header}.{other_payload}.{signature}"
    with pytest.raises(Rejected) as caught:
        parse_compact(forged.encode()).verify(rfc_key().public_key())
    assert caught.value.reason is Rejection.BAD_SIGNATURE


def test_another_devices_key_does_not_verify() -> None:
    token = sign_compact(b'{"x":1}', rfc_key(), kid="D1")
    with pytest.raises(Rejected, match="bad_signature"):
        parse_compact(token.encode()).verify(Ed25519PrivateKey.generate().public_key())


def header(fields: dict[str, object]) -> str:
    return b64url_encode(json.dumps(fields).encode())


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (b'{"ver":1}', Rejection.NOT_JWS),
        (b"a.b", Rejection.NOT_JWS),
        ("é.b.c".encode(), Rejection.NOT_JWS),
        (b"!!!.e30.AA", Rejection.BAD_HEADER),
        (f"{b64url_encode(b'[1]')}.e30.AA".encode(), Rejection.BAD_HEADER),
        (f"{header({'alg': 'none', 'kid': 'D1'})}.e30.".encode(), Rejection.UNSUPPORTED_ALG),
        (f"{header({'alg': 'HS256', 'kid': 'D1'})}.e30.AA".encode(), Rejection.UNSUPPORTED_ALG),
        (f"{header({'alg': 'EdDSA'})}.e30.AA".encode(), Rejection.MISSING_KID),
        (
            f"{header({'alg': 'EdDSA', 'kid': 'D1', 'crit': ['exp']})}.e30.AA".encode(),
            Rejection.BAD_HEADER,
        ),
        (f"{header({'alg': 'EdDSA', 'kid': 'D1'})}.e30=.AA".encode(), Rejection.NOT_JWS),
        (b"x" * 20_000, Rejection.NOT_JWS),
    ],
)
def test_malformed_tokens_are_refused_with_their_reason(token: bytes, reason: Rejection) -> None:
    with pytest.raises(Rejected) as caught:
        parse_compact(token)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_claims_refuse_unknown_fields_and_naive_times() -> None:
    good = json.loads(worked_example()["claims"])

    def parse(claims: dict[str, object]) -> EventClaims:
        return EventClaims.model_validate_json(json.dumps(claims))

    parse(good)
    for bad in (
        {**good, "battery": 80},
        {**good, "device_time": "2026-03-02T07:31:12"},
        {**good, "seq": -1},
        {**good, "ver": 3},
        {
            **good,
            "landline": {"caller": "+441603123456", "called": "+448000000001", "call_id": "CA1"},
        },
    ):
        with pytest.raises(ValidationError):
            parse(bad)


def test_worked_example_verifies_with_its_published_key() -> None:
    example = worked_example()
    signed = parse_compact(example["jws"].encode())
    signed.verify(public_key_from_b64(example["private_key_jwk"]["x"]))
    assert signed.header == {"alg": "EdDSA", "kid": "D0001"}
    assert example["topic"] == "ecm/v1/devices/D0001/events"


def test_topics() -> None:
    assert events_topic("D0001") == "ecm/v1/devices/D0001/events"
    assert device_from_topic("ecm/v1/devices/D0001/events") == "D0001"
    assert events_subscription("g") == "$share/g/ecm/v1/devices/+/events"
    assert events_subscription(None) == "ecm/v1/devices/+/events"
    for bad in ("ecm/v1/devices/+/events", "ecm/v1/devices/a/b/events", "ecm/v2/devices/a/events"):
        with pytest.raises(Rejected, match="bad_topic"):
            device_from_topic(bad)
    with pytest.raises(ValueError):
        events_topic("#")


@pytest.mark.parametrize("text", ["ab!cd", "ab+c", "ab/c", "abc=", "a"])
def test_base64url_is_strict(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_claims_are_strictly_typed() -> None:
    good = json.loads(worked_example()["claims"])
    for field, loose in [("seq", "42"), ("ver", True), ("device_time", 1772436672)]:
        with pytest.raises(ValidationError):
            EventClaims.model_validate_json(json.dumps({**good, field: loose}))
