"""Property-based fuzzing of the parser and the verify path: whatever bytes arrive, the answer is
our rejection (or a verified event), never any other exception.

A JWS header of JSON nested 4,000 deep once made `parse_compact` raise RecursionError, which
killed the ingest worker and had the message redelivered forever (issue 12).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from core.settings import Settings
from gateway.protocol import (
    EventClaims,
    EventType,
    Rejected,
    Rejection,
    b64url_encode,
    events_topic,
    parse_compact,
    sign_compact,
)
from gateway.protocol.jws import MAX_TOKEN_BYTES
from ingest.clock import apply_clock_rules
from ingest.directory import Directory
from ingest.verify import QuarantineEntry, ReceivedMessage, VerifiedEvent, verify
from tests.support.devices import TestDevice, new_test_device

KEY = Ed25519PrivateKey.generate()


def _token() -> str:
    claims = EventClaims.build(
        event_id=uuid.uuid4(),
        device_id="D0001",
        carer_id="C0001",
        seq=1,
        type=EventType.CHECK_IN,
        device_time=datetime.now(UTC),
    )
    return sign_compact(claims.to_json(), KEY, kid="D0001")


VALID = _token()


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def json_values() -> st.SearchStrategy[object]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=20,
    )


def deep_json() -> st.SearchStrategy[str]:
    """JSON nested far past any recursion limit, as arrays, objects or inside a header member."""
    depth = st.integers(min_value=500, max_value=6000)
    return st.one_of(
        depth.map(nested),
        depth.map(lambda d: '{"a":' * d + "1" + "}" * d),
        depth.map(lambda d: '{"alg":"EdDSA","kid":"D0001","x":' + nested(d) + "}"),
        depth.map(lambda d: '{"alg":' + nested(d) + "}"),
        depth.map(lambda d: nested(d)[: d + d // 2]),  # unbalanced: truncated halfway out
    )


def headers() -> st.SearchStrategy[str]:
    members = st.dictionaries(
        st.sampled_from(["alg", "kid", "crit", "typ", "x"]) | st.text(max_size=5), json_values()
    )
    return st.one_of(members.map(json.dumps), deep_json(), st.text(max_size=200))


def tokens() -> st.SearchStrategy[bytes]:
    """Random bytes; tokens built from random parts; a valid token truncated or altered; huge."""
    parts = st.one_of(
        headers().map(lambda h: b64url_encode(h.encode())),
        st.text(alphabet="ABCabc012-_=+/.!é \n", max_size=40),
    )
    built = st.lists(parts, min_size=1, max_size=4).map(lambda p: ".".join(p).encode())
    truncated = st.integers(min_value=0, max_value=len(VALID)).map(lambda n: VALID[:n].encode())
    flipped = st.tuples(
        st.integers(min_value=0, max_value=len(VALID) - 1), st.integers(0, 255)
    ).map(lambda a: VALID.encode()[: a[0]] + bytes([a[1]]) + VALID.encode()[a[0] + 1 :])
    huge = st.integers(min_value=MAX_TOKEN_BYTES - 64, max_value=4 * MAX_TOKEN_BYTES).map(
        lambda n: (b64url_encode(nested(n // 2).encode())[:n] + ".e30.AA").encode()
    )
    return st.one_of(st.binary(max_size=300), built, truncated, flipped, huge)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tokens())
@example(b64url_encode(nested(4000).encode()).encode() + b".e30.AA")
@example(
    (b64url_encode(b'{"alg":"EdDSA","kid":' + nested(4000).encode() + b"}") + ".e30.AA").encode()
)
def test_parse_compact_raises_only_our_rejection(token: bytes) -> None:
    try:
        signed = parse_compact(token)
    except Rejected as rejected:
        assert isinstance(rejected.reason, Rejection)
        assert len(rejected.detail) < 200
        return
    assert isinstance(signed.kid, str) and signed.kid
    try:
        signed.verify(KEY.public_key())
    except Rejected as rejected:
        assert rejected.reason is Rejection.BAD_SIGNATURE


def test_a_header_nested_4000_deep_is_a_bad_header() -> None:
    token = (b64url_encode(nested(4000).encode()) + ".e30.AA").encode()
    with pytest.raises(Rejected) as caught:
        parse_compact(token)
    assert caught.value.reason is Rejection.BAD_HEADER
    assert "nested too deep" in caught.value.detail


@pytest.fixture(scope="module")
def directory(settings: Settings) -> Iterator[Directory]:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        yield Directory(conn)


@pytest.fixture(scope="module")
def device(engine: Engine) -> TestDevice:
    return new_test_device(engine)


def claims_payloads(device: TestDevice) -> st.SearchStrategy[bytes]:
    """Claims a registered device really signed: valid ones with fields replaced by random JSON,
    deeply nested, huge or not JSON at all."""
    base = {
        "ver": 1,
        "event_id": str(uuid.uuid4()),
        "device_id": device.device_id,
        "carer_id": device.carer_id,
        "seq": 1,
        "type": "check_in",
        "device_time": datetime.now(UTC).isoformat(),
        "service_user_id": device.service_user_id,
    }
    fields = st.sampled_from([*base, "tag", "gps", "code", "landline", "extra"])
    replaced = st.dictionaries(fields, json_values(), max_size=4).map(
        lambda changes: json.dumps({**base, **changes}).encode()
    )
    return st.one_of(
        replaced,
        deep_json().map(str.encode),
        st.integers(min_value=500, max_value=5000).map(
            lambda d: (
                json.dumps({**base, "gps": "X"}).encode()[:-1]
                + b',"y":'
                + nested(d).encode()
                + b"}"
            )
        ),
        st.binary(max_size=200),
        st.integers(min_value=8000, max_value=12000).map(lambda n: b'"' + b"a" * n + b'"'),
    )


def test_verify_never_raises_on_signed_fuzzed_claims(
    device: TestDevice, directory: Directory
) -> None:
    checked: list[type] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(claims_payloads(device))
    def run(payload: bytes) -> None:
        token = sign_compact(payload, device.key, kid=device.device_id).encode()
        message = ReceivedMessage(1, events_topic(device.device_id), token, datetime.now(UTC))
        outcome = verify(message, directory)
        if isinstance(outcome, VerifiedEvent):
            outcome = apply_clock_rules(outcome, skew_tolerance_s=300, late_after_s=900)
        assert isinstance(outcome, VerifiedEvent | QuarantineEntry)
        checked.append(type(outcome))

    run()
    assert QuarantineEntry in checked
