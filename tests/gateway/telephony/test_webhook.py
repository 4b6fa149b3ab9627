"""The voice webhook against a real PostgreSQL: signatures, stale and replayed requests, the
call flow and every refusal with what the caller hears."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from core.settings import Settings
from firmware_sim.telephony import ANONYMOUS, TelephonyProvider, new_call_sid
from gateway.telephony import signature
from tests.gateway.telephony.phone_support import (
    AUTH_TOKEN,
    PUBLIC_URL,
    Clock,
    PhoneWorld,
    bridge_events,
    call,
    call_row,
    make_phone_world,
    morning,
    telephony_app,
    uk_landline,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def world(engine: Engine, settings: Settings) -> PhoneWorld:
    return make_phone_world(engine, settings)


@pytest.fixture
def clock() -> Clock:
    return Clock(morning(7, 31))


@pytest.fixture
def phone(settings: Settings, clock: Clock) -> Iterator[TelephonyProvider]:
    with telephony_app(settings, clock) as provider:
        yield provider


# The provider's signature ----------------------------------------------------------------


def test_signature_matches_the_providers_documented_examples() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"

    def params(number: str) -> list[tuple[str, str]]:
        return [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", number),
            ("Digits", "1234"),
            ("From", number),
            ("To", "+18005551212"),
        ]

    # Twilio's worked examples (two editions of its security page), order of fields shuffled.
    assert signature.sign("12345", url, reversed(params("+14158675310"))) == (
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    )
    assert signature.sign("12345", url, params("+12349013030")) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    good = signature.sign("12345", url, params("+12349013030"))
    assert signature.is_valid(["other", "12345"], url, params("+12349013030"), good)
    assert not signature.is_valid(["other"], url, params("+12349013030"), good)
    assert not signature.is_valid(["12345"], url, params("+12349013031"), good)
    assert not signature.is_valid(["12345"], url + "&x=1", params("+12349013030"), good)
    assert not signature.is_valid(["12345"], url, params("+12349013030"), None)


def test_a_default_port_added_or_dropped_on_the_way_still_verifies() -> None:
    fields = [("CallSid", "CA1"), ("From", "+441632960001")]
    signed_with_port = signature.sign("t", "https://ecm.example:443/telephony/voice", fields)
    assert signature.is_valid(
        ["t"], "https://ecm.example/telephony/voice", fields, signed_with_port
    )
    signed_without = signature.sign("t", "https://ecm.example/telephony/voice", fields)
    assert signature.is_valid(
        ["t"], "https://ecm.example:443/telephony/voice", fields, signed_without
    )
    assert not signature.is_valid(
        ["t"], "https://ecm.example:8443/telephony/voice", fields, signed_without
    )


def test_unsigned_wrongly_signed_and_tampered_requests_are_refused_before_anything_is_kept(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    forgeries = dict(phone.forged(world.landline, world.number))
    assert set(forgeries) == {"unsigned", "wrong token", "tampered"}
    for name, exchange in forgeries.items():
        assert exchange.status == 403, name
        assert exchange.body == "signature does not verify"
        sid = dict(exchange.params)["CallSid"]
        assert call_row(engine, sid) is None, f"{name}: a forged request left a call behind"


def test_a_signed_digit_changed_in_transit_is_refused(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    started = call(phone, world, [])
    [first] = started.exchanges
    params = [*first.params, ("Digits", world.carer.carer_number)]
    altered = [*first.params, ("Digits", world.other_carer.carer_number)]
    refused = phone.post(f"{PUBLIC_URL}/telephony/voice/carer", params, altered=altered)
    assert refused.status == 403
    row = call_row(engine, started.call_sid)
    assert row is not None and row["stage"] == "carer" and row["carer_number"] is None


def test_a_request_signed_for_another_host_is_refused(
    settings: Settings, clock: Clock, world: PhoneWorld
) -> None:
    # The public URL is what the provider signs: a request signed for any other URL fails,
    # even with the right token.
    with telephony_app(settings, clock) as phone:
        phone.base_url = "https://attacker.example"
        result = call(phone, world, [])
    assert result.statuses == [403]


# Replays and stale requests --------------------------------------------------------------


def test_a_replayed_request_gets_its_first_answer_and_changes_nothing(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine, clock: Clock
) -> None:
    checked_in = call(phone, world, world.keys())
    assert checked_in.last_said.startswith("Checked in at 07:31.")
    pin_request = checked_in.exchanges[-1]
    clock.advance(seconds=30)
    for exchange in checked_in.exchanges:
        again = phone.replay(exchange)
        assert (again.status, again.body) == (exchange.status, exchange.body)
    assert len(bridge_events(engine, checked_in.call_sid)) == 1
    with engine.connect() as conn:
        attempts = conn.execute(
            text("select count(*) from telephony_pin_attempt where call_sid = :s"),
            {"s": checked_in.call_sid},
        ).scalar_one()
    assert attempts == 1
    assert pin_request.said == checked_in.said[-1:]


def test_a_request_about_a_call_older_than_the_limit_is_refused_as_stale(
    phone: TelephonyProvider, world: PhoneWorld, clock: Clock, engine: Engine
) -> None:
    started = call(phone, world, [])
    first = started.exchanges[0]
    clock.advance(minutes=11)  # ECM_TELEPHONY_MAX_CALL_AGE_S is 600
    late = phone.post(
        f"{PUBLIC_URL}/telephony/voice/carer", [*first.params, ("Digits", world.carer.carer_number)]
    )
    assert (late.status, late.body) == (403, "stale")
    # Not even the answer it once had: a stale call is finished.
    assert phone.replay(first).status == 403
    row = call_row(engine, started.call_sid)
    assert row is not None and row["carer_number"] is None


def test_steps_out_of_order_and_calls_never_started_are_refused(
    phone: TelephonyProvider, world: PhoneWorld
) -> None:
    started = call(phone, world, [])
    first = started.exchanges[0]
    early_pin = phone.post(f"{PUBLIC_URL}/telephony/voice/pin", [*first.params, ("Digits", "4711")])
    assert (early_pin.status, early_pin.body) == (403, "out_of_sequence")
    stranger = [(k, new_call_sid() if k == "CallSid" else v) for k, v in first.params]
    unknown = phone.post(f"{PUBLIC_URL}/telephony/voice/carer", [*stranger, ("Digits", "123")])
    assert (unknown.status, unknown.body) == (403, "unknown_call")


# The call flow ----------------------------------------------------------------------------


def test_first_call_checks_in_and_second_checks_out(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine, clock: Clock
) -> None:
    first = call(phone, world, world.keys())
    assert first.said == [
        "Welcome. Please key your carer number, then press the hash key.",
        "Now key your PIN, then press the hash key.",
        "Checked in at 07:31. Please call again when you leave. Goodbye.",
    ]
    clock.advance(minutes=31)
    second = call(phone, world, world.keys())
    assert second.last_said == "Checked out at 08:02, after 31 minutes. Thank you. Goodbye."
    [check_in] = bridge_events(engine, first.call_sid)
    [check_out] = bridge_events(engine, second.call_sid)
    assert (check_in["event_type"], check_out["event_type"]) == ("check_in", "check_out")
    assert check_out["seq"] == check_in["seq"] + 1
    assert check_in["device_id"] == world.bridge_device_id
    assert check_in["service_user_id"] == world.service_user_id
    assert check_in["refusal"] is None
    row = call_row(engine, second.call_sid)
    assert row is not None
    assert (row["outcome"], row["carer_id"], row["caller"]) == (
        "check_out",
        world.carer.carer_id,
        world.landline,
    )


def test_a_withheld_number_is_told_why_and_nothing_is_recorded(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    result = call(phone, world, world.keys(), caller=ANONYMOUS)
    assert result.said == [
        "Your number is withheld, so we cannot tell which home you are calling from. Nothing "
        "has been recorded. Please call from the home's phone with its number shown, or use "
        "the app."
    ]
    row = call_row(engine, result.call_sid)
    assert row is not None and (row["outcome"], row["refusal"]) == ("refused", "caller_withheld")
    assert bridge_events(engine, result.call_sid) == []


def test_an_unregistered_line_and_an_unknown_number_are_refused(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    stranger = call(phone, world, world.keys(), caller=uk_landline())
    assert stranger.said == [
        "This phone line is not registered for care visits. Nothing has been recorded. "
        "Please use the app, or ask your office to register this line."
    ]
    wrong_number = call(phone, world, world.keys(), called="+448000000000")
    assert wrong_number.said == [
        "This number is not set up for care visits. Nothing has been recorded. Goodbye."
    ]
    refusals = [
        (call_row(engine, r.call_sid) or {}).get("refusal") for r in (stranger, wrong_number)
    ]
    assert refusals == ["caller_unregistered", "number_unregistered"]


def test_a_wrong_pin_asks_again_and_the_last_try_ends_the_call(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    number = world.carer.carer_number
    result = call(phone, world, [number, "0000", number, "1111", number, "2222"])
    prompts = result.said
    assert prompts[2] == (
        "That carer number and PIN do not match. Please key your carer number again, then "
        "press the hash key."
    )
    assert prompts[-1] == (
        "That carer number and PIN do not match. That was the last try on this call. Nothing "
        "has been recorded. Goodbye."
    )
    row = call_row(engine, result.call_sid)
    assert row is not None and (row["refusal"], row["attempts"]) == ("pin_mismatch", 3)
    # A wrong PIN and an unknown carer number sound the same: no list of carer numbers.
    unknown = call(phone, world, ["99999999", "4711"])
    assert unknown.exchanges[-1].prompt == [prompts[2]]


def test_a_right_pin_after_a_wrong_one_checks_in(
    phone: TelephonyProvider, world: PhoneWorld
) -> None:
    number = world.carer.carer_number
    result = call(phone, world, [number, "0000", number, world.carer.pin])
    assert result.last_said.startswith("Checked in at 07:31")


def test_a_carer_of_another_provider_is_told_and_the_event_is_signed_for_quarantine(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    result = call(phone, world, world.keys(world.other_carer))
    assert result.last_said == (
        "You are registered with another care company, so nothing has been recorded for you "
        "on this number. Please call your own company's number."
    )
    [event] = bridge_events(engine, result.call_sid)
    # Signed by the called number's provider's bridge: ingest refuses a carer of another
    # provider as carer_not_with_provider (tests/gateway/telephony/test_end_to_end.py).
    assert event["device_id"] == world.bridge_device_id
    assert event["carer_id"] == world.other_carer.carer_id
    assert event["refusal"] == "carer_not_with_provider"
    row = call_row(engine, result.call_sid)
    assert row is not None and row["refusal"] == "carer_not_with_provider"
    # It does not count as a check-in: the carer's next right call still checks in.
    right = call(phone, world, world.keys(world.other_carer), called=world.other_number)
    assert right.last_said.startswith("Checked in at 07:31")


def test_a_repeated_call_records_nothing_new(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine, clock: Clock
) -> None:
    call(phone, world, world.keys())
    clock.advance(seconds=90)
    again = call(phone, world, world.keys())
    assert again.last_said == (
        "You checked in at 07:31 a moment ago, so this call records nothing new. Call again "
        "when you leave to check out."
    )
    assert bridge_events(engine, again.call_sid) == []
    row = call_row(engine, again.call_sid)
    assert row is not None and row["refusal"] == "repeated_call"
    clock.advance(seconds=60)
    assert call(phone, world, world.keys()).last_said.startswith("Checked out at 07:33")


def test_a_call_where_nothing_is_keyed_ends_and_says_why_nothing_was_recorded(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    # The Gather times out at the carer number: the provider posts no digits (the answer
    # asks it to), and the call ends.
    silent = call(phone, world, [""])
    assert silent.statuses == [200, 200]
    assert silent.exchanges[-1].params[-2:] == (("Digits", ""), ("msg", "Gather End"))
    assert silent.said == [
        "Welcome. Please key your carer number, then press the hash key.",
        "We did not receive any digits. Nothing has been recorded. Goodbye.",
    ]
    # Only the hash key at the PIN: nothing keyed either, and no wrong PIN counted.
    hash_only = call(phone, world, [world.carer.carer_number, "#"])
    assert (
        hash_only.last_said == "We did not receive any digits. Nothing has been recorded. Goodbye."
    )
    for result in (silent, hash_only):
        row = call_row(engine, result.call_sid)
        assert row is not None
        assert (row["stage"], row["outcome"], row["refusal"]) == ("done", "refused", "no_digits")
        assert row["finished_at"] is not None and row["event_id"] is None
        assert bridge_events(engine, result.call_sid) == []
    with engine.connect() as conn:
        attempts = conn.execute(
            text("select count(*) from telephony_pin_attempt where call_sid = :s"),
            {"s": hash_only.call_sid},
        ).scalar_one()
    assert attempts == 0
    # The call is over: digits sent after it are out of sequence.
    late = phone.replay(hash_only.exchanges[1])
    assert late.status == 200  # the same request again gets its first answer
    pin = [*hash_only.exchanges[0].params, ("Digits", world.carer.pin)]
    assert phone.post(f"{PUBLIC_URL}/telephony/voice/pin", pin).status == 403


def test_a_caller_who_hangs_up_before_the_pin_is_in_the_call_log_as_hung_up(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine, clock: Clock
) -> None:
    waiting = call(phone, world, [world.carer.carer_number])  # then puts the phone down
    row = call_row(engine, waiting.call_sid)
    assert row is not None and (row["stage"], row["outcome"]) == ("pin", None)
    # Left off the hook past the age limit of the call's requests: the callback still counts.
    clock.advance(minutes=15)
    ended = phone.hang_up(waiting)
    assert (ended.status, ended.body) == (204, "")
    row = call_row(engine, waiting.call_sid)
    assert row is not None
    assert (row["stage"], row["outcome"], row["refusal"]) == ("done", "refused", "hung_up")
    assert row["finished_at"] is not None
    assert bridge_events(engine, waiting.call_sid) == []
    # Too late to finish it: the PIN after the hang-up is out of sequence.
    pin = [*waiting.exchanges[0].params, ("Digits", world.carer.pin)]
    assert phone.post(f"{PUBLIC_URL}/telephony/voice/pin", pin).status == 403
    assert bridge_events(engine, waiting.call_sid) == []


def test_the_status_callback_leaves_a_finished_call_as_it_was_and_is_signed(
    phone: TelephonyProvider, world: PhoneWorld, engine: Engine
) -> None:
    checked_in = call(phone, world, world.keys())
    for _ in range(2):  # the callback, and the provider sending it again
        assert phone.hang_up(checked_in).status == 204
    row = call_row(engine, checked_in.call_sid)
    assert row is not None and (row["outcome"], row["refusal"]) == ("check_in", None)
    assert len(bridge_events(engine, checked_in.call_sid)) == 1
    # A call still ringing is not over: the callback changes nothing.
    ringing = call(phone, world, [])
    assert phone.hang_up(ringing, status="in-progress").status == 204
    row = call_row(engine, ringing.call_sid)
    assert row is not None and (row["stage"], row["refusal"]) == ("carer", None)
    # Unsigned, or about a call never seen: refused, nothing changed.
    first = ringing.exchanges[0]
    status_url = f"{PUBLIC_URL}/telephony/voice/status"
    ended = [(k, "completed" if k == "CallStatus" else v) for k, v in first.params]
    assert phone.post(status_url, ended, signed=False).status == 403
    row = call_row(engine, ringing.call_sid)
    assert row is not None and row["stage"] == "carer"
    stranger = [(k, new_call_sid() if k == "CallSid" else v) for k, v in ended]
    unknown = phone.post(status_url, stranger)
    assert (unknown.status, unknown.body) == (403, "unknown_call")


def test_a_provider_without_a_bridge_device_is_told_the_service_is_not_set_up(
    engine: Engine, settings: Settings, clock: Clock
) -> None:
    world = make_phone_world(engine, settings, bridges_for_both=False)
    with telephony_app(settings, clock) as phone:
        result = call(
            phone,
            world,
            world.keys(world.other_carer),
            caller=world.other_landline,
            called=world.other_number,
        )
    assert result.last_said.startswith("The telephone service is not set up for your care company")
    row = call_row(engine, result.call_sid)
    assert row is not None and row["refusal"] == "bridge_unavailable"


def test_the_answer_is_twiml_with_the_public_action_urls(
    phone: TelephonyProvider, world: PhoneWorld
) -> None:
    result = call(phone, world, [])
    body = result.exchanges[0].body
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Gather ')
    assert f'action="{PUBLIC_URL}/telephony/voice/carer"' in body
    assert 'finishOnKey="#"' in body and 'language="en-GB"' in body
    assert 'actionOnEmptyResult="true"' in body
    assert AUTH_TOKEN not in body
