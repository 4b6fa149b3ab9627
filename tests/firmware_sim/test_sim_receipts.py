"""The handset's retry rule (firmware_sim.receipts): timeout, exponential backoff, jitter."""

from __future__ import annotations

import random
import uuid

from firmware_sim.receipts import ResendSchedule


def test_backoff_doubles_with_jitter_up_to_the_ceiling() -> None:
    schedule = ResendSchedule(timeout_s=30, max_backoff_s=600, rng=random.Random(1))
    for attempt, base in ((1, 30), (2, 60), (3, 120), (5, 480), (6, 600), (12, 600)):
        delays = [schedule.delay(attempt) for _ in range(200)]
        assert all(0.5 * base <= d <= base for d in delays), attempt
        assert max(delays) - min(delays) > 0.3 * base, "jitter spreads a fleet's resends"


def test_an_event_is_due_after_its_timeout_until_receipted() -> None:
    schedule = ResendSchedule(timeout_s=10, rng=random.Random(2))
    first, second = uuid.uuid4(), uuid.uuid4()
    schedule.sent(first, "t", b"a", now=0.0)
    schedule.sent(second, "t", b"b", now=0.0)
    assert schedule.due(4.9) == []
    assert {k for k, _ in schedule.due(10.0)} == {first, second}
    # Resent: the wait doubles (10-20 s from now).
    schedule.sent(first, "t", b"a", now=10.0)
    assert {k for k, _ in schedule.due(14.9)} == {second}
    assert schedule.receipted([second, uuid.uuid4()]) == {second}
    assert schedule.due(15.0) == []
    assert [w.payload for _, w in schedule.due(30.0)] == [b"a"]
    assert len(schedule) == 1
    assert schedule.receipted([first]) == {first}
    assert schedule.wait_empty(0)


def test_a_reconnect_makes_everything_due_within_one_timeout() -> None:
    schedule = ResendSchedule(timeout_s=10, rng=random.Random(3))
    event = uuid.uuid4()
    for at in (0.0, 10.0, 30.0, 70.0):  # backed off: next due 80 s after the last send
        schedule.sent(event, "t", b"x", now=at)
    assert schedule.due(100.0) == []
    schedule.reconnected(now=100.0)
    assert [k for k, _ in schedule.due(110.0)] == [event]
