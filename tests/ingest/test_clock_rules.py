"""Clock rules on their own: skew is refused, an offline handset's old event is late, not skew."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.protocol import EventClaims, EventType, Rejection
from ingest.clock import apply_clock_rules, parse_sent_at
from ingest.verify import QuarantineEntry, ReceivedMessage, VerifiedEvent

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


def event(device_time: datetime, sent_at: datetime | None = None) -> VerifiedEvent:
    claims = EventClaims.build(
        event_id=uuid.uuid4(),
        device_id="D1",
        carer_id="C1",
        seq=0,
        type=EventType.CHECK_IN,
        device_time=device_time,
    )
    message = ReceivedMessage(1, "ecm/v1/devices/D1/events", b"x", NOW, sent_at=sent_at)
    return VerifiedEvent(message, claims, "P1")


def rules(outcome: VerifiedEvent) -> VerifiedEvent | QuarantineEntry:
    return apply_clock_rules(outcome, skew_tolerance_s=300, late_after_s=900)


def test_a_device_clock_ahead_beyond_tolerance_is_clock_skew_with_the_offset() -> None:
    outcome = rules(event(NOW + timedelta(minutes=10)))
    assert isinstance(outcome, QuarantineEntry)
    assert outcome.reason is Rejection.CLOCK_SKEW
    assert "600 s ahead" in outcome.detail
    assert outcome.event_id is not None and outcome.device_id == "D1"


def test_a_clock_a_little_ahead_is_within_tolerance() -> None:
    outcome = rules(event(NOW + timedelta(minutes=4)))
    assert isinstance(outcome, VerifiedEvent)
    assert outcome.evidence.late_arriving is False


def test_an_old_event_from_an_offline_handset_is_late_arriving_not_skew() -> None:
    outcome = rules(event(NOW - timedelta(hours=3), sent_at=NOW + timedelta(seconds=2)))
    assert isinstance(outcome, VerifiedEvent)
    assert outcome.evidence.late_arriving is True


def test_a_recent_event_is_not_late() -> None:
    outcome = rules(event(NOW - timedelta(minutes=14)))
    assert isinstance(outcome, VerifiedEvent)
    assert outcome.evidence.late_arriving is False


def test_a_clock_set_back_is_told_apart_by_sent_at() -> None:
    # Same device time as the offline handset, but the phone's clock is three hours behind now.
    outcome = rules(event(NOW - timedelta(hours=3), sent_at=NOW - timedelta(hours=3)))
    assert isinstance(outcome, QuarantineEntry)
    assert outcome.reason is Rejection.CLOCK_SKEW
    assert "10800 s behind" in outcome.detail


def test_sent_at_must_be_a_zoned_iso_time_or_it_is_ignored() -> None:
    assert parse_sent_at("2026-11-22T09:00:00Z") == NOW
    assert parse_sent_at("2026-11-22T09:00:00") is None
    assert parse_sent_at("yesterday") is None
