"""Wrong PINs are throttled per line and per carer; a stranger cannot lock a carer out of the
homes the carer is expected at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, text

from core.settings import Settings
from firmware_sim.telephony import TelephonyProvider
from tests.gateway.telephony.phone_support import (
    Clock,
    PhoneWorld,
    call,
    call_row,
    make_phone_world,
    morning,
    telephony_app,
    uk_landline,
)
from tests.support.ids import unique
from tests.support.world import World
from visits.schedule import import_schedule

pytestmark = pytest.mark.integration

THROTTLED = (
    "Too many wrong PINs have been keyed. Nothing has been recorded. Please try again later, "
    "use the app, or ask your office."
)


@pytest.fixture
def world(engine: Engine, settings: Settings) -> PhoneWorld:
    return make_phone_world(engine, settings)


@pytest.fixture
def clock() -> Clock:
    return Clock(morning(9, 0))


@pytest.fixture
def phone(settings: Settings, clock: Clock) -> Iterator[TelephonyProvider]:
    with telephony_app(settings, clock) as provider:
        yield provider


def other_lines(engine: Engine, count: int) -> list[str]:
    """Registered landlines of other homes: where a stranger might key a carer's number."""
    world = World()
    lines = [uk_landline() for _ in range(count)]
    for line in lines:
        world.home(name="Dot User", landline=line)
    world.seed(engine)
    return lines


def wrong_pins(
    phone: TelephonyProvider,
    world: PhoneWorld,
    caller: str,
    count: int,
    number: str | None = None,
) -> None:
    """Key `count` wrong PINs for the world's carer (or the carer `number`) from `caller`,
    three tries a call."""
    number = number or world.carer.carer_number
    while count > 0:
        tries = min(count, 3)
        call(phone, world, [number, "0000"] * tries, caller=caller)
        count -= tries


def plan_visit(engine: Engine, world: PhoneWorld, start: datetime) -> None:
    schedule = (
        "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,carers_required,"
        f"service_type\n{unique('V')},{world.service_user_id},{world.provider_id},"
        f"{start.isoformat()},30,1,personal_care\n"
    )
    with engine.begin() as conn:
        report = import_schedule(conn, schedule, source="test", imported_by="tests")
    assert not report.errors


def test_a_line_with_too_many_wrong_pins_is_throttled_until_the_window_passes(
    phone: TelephonyProvider, world: PhoneWorld, clock: Clock, engine: Engine
) -> None:
    # Someone trying carer numbers on one line: ECM_TELEPHONY_MAX_PIN_FAILURES_PER_LINE is 10.
    wrong_pins(phone, world, world.landline, 10, number="99999999")
    throttled = call(phone, world, world.keys())
    assert throttled.said == [THROTTLED]
    row = call_row(engine, throttled.call_sid)
    assert row is not None and row["refusal"] == "line_throttled"
    # Another carer on this line is throttled too: the limit is the line's.
    assert call(phone, world, world.keys(world.other_carer)).said == [THROTTLED]
    clock.advance(minutes=16)  # the window is 15 minutes
    assert call(phone, world, world.keys()).last_said.startswith("Checked in at 09:16")


def test_wrong_pins_elsewhere_throttle_the_carer_where_nothing_expects_them(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    first, second = other_lines(engine, 2)
    wrong_pins(phone, world, first, 3)
    wrong_pins(phone, world, second, 2)  # 5: ECM_TELEPHONY_MAX_PIN_FAILURES_PER_CARER
    result = call(phone, world, world.keys())
    assert result.last_said == THROTTLED
    row = call_row(engine, result.call_sid)
    assert row is not None and row["refusal"] == "carer_throttled"
    # The limit is the carer's: another carer on the same line is not held up.
    assert call(phone, world, world.keys(world.other_carer)).last_said.startswith(
        "You are registered with another care company"
    )


def test_a_stranger_cannot_lock_a_carer_out_of_a_visit_planned_for_their_provider(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine, clock: Clock
) -> None:
    plan_visit(engine, world, clock.now)
    [stranger_line] = other_lines(engine, 1)
    wrong_pins(phone, world, stranger_line, 6)
    assert call(phone, world, world.keys(), caller=stranger_line).last_said == THROTTLED
    checked_in = call(phone, world, world.keys())
    assert checked_in.last_said.startswith("Checked in at 09:00")


def test_a_stranger_cannot_lock_a_carer_out_of_checking_out(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine, clock: Clock
) -> None:
    [stranger_line, unrelated_line] = other_lines(engine, 2)
    assert call(phone, world, world.keys()).last_said.startswith("Checked in at 09:00")
    clock.advance(minutes=1)
    wrong_pins(phone, world, stranger_line, 6)
    clock.advance(minutes=9)
    # Anywhere else the carer is throttled; at the home they are checked in at, they are not.
    assert call(phone, world, world.keys(), caller=unrelated_line).last_said == THROTTLED
    checked_out = call(phone, world, world.keys())
    assert checked_out.last_said == "Checked out at 09:10, after 10 minutes. Thank you. Goodbye."


def test_a_throttled_attempt_is_not_counted(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    wrong_pins(phone, world, world.landline, 10, number="99999999")
    for _ in range(3):
        assert call(phone, world, world.keys()).said == [THROTTLED]
    with engine.connect() as conn:
        counted = conn.execute(
            text("select count(*) from telephony_pin_attempt where caller = :c"),
            {"c": world.landline},
        ).scalar_one()
    assert counted == 10
