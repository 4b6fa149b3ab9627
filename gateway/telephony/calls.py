"""The call flow: from the provider's webhook requests to a signed check-in or check-out.

A call from a registered home landline to a provider's number goes through three requests:

1. `start`: the call arrives. The number called names the provider, the caller's number the
   home. Answer: "key your carer number".
2. `carer`: the digits keyed. Answer: "key your PIN".
3. `pin`: the PIN keyed. A right PIN ends the call with "checked in at 07:31" (or "checked out");
   the bridge signs the event with the provider's bridge device and keeps it in its outbox
   (`telephony_event`) in the same transaction, and the publisher sends it to the broker.

Every refusal is recorded on the call (`telephony_call.refusal`) and spoken, but `hung_up`,
which the provider's status callback reports after the caller has gone; the refusals are listed
in docs/telephony.md (tests/docs/test_telephony_doc.py holds the list to this module). A
refusal after the carer proved who they are (a carer of another provider) still produces a
signed event, which ingest quarantines with its reason, so the record sits with every other
refused event.

Stale and replayed requests. The provider's signature covers the URL and the parameters but
carries no time. So each call id is recorded when first seen and every answered request is kept
with a fingerprint of its step, its parameters and the tries the call had used: the same request
again (a provider retry, or a replay) gets the answer it got the first time and changes nothing;
a request for a step the
call is not at, for a call never seen, or about a call first seen longer ago than
`ECM_TELEPHONY_MAX_CALL_AGE_S` is refused (HTTP 403). A captured request is useless elsewhere:
its call id is signed with it.

Services never commit: the webhook endpoint owns the transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from core.settings import Settings
from gateway.evidence.keys import KeyRing
from gateway.protocol import EventClaims, EventType, LandlineCall, sign_compact
from gateway.telephony import bridges, repository, twiml
from gateway.telephony.numbers import NumberError, is_withheld, to_e164
from gateway.telephony.pins import PinHasher
from gateway.telephony.repository import Call

log = logging.getLogger("ecm.telephony")

CARER_NUMBER = re.compile(r"^[0-9]{3,10}$")
PIN_DIGITS = re.compile(r"^[0-9]{4,8}$")
CALL_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
LONDON = ZoneInfo("Europe/London")


class Step(StrEnum):
    START = "start"
    CARER = "carer"
    PIN = "pin"


class Refusal(StrEnum):
    """Why a call recorded nothing (telephony_call.refusal); docs/telephony.md lists them."""

    NUMBER_UNREGISTERED = "number_unregistered"
    CALLER_WITHHELD = "caller_withheld"
    CALLER_UNREGISTERED = "caller_unregistered"
    PIN_MISMATCH = "pin_mismatch"
    LINE_THROTTLED = "line_throttled"
    CARER_THROTTLED = "carer_throttled"
    CARER_NOT_WITH_PROVIDER = "carer_not_with_provider"
    REPEATED_CALL = "repeated_call"
    BRIDGE_UNAVAILABLE = "bridge_unavailable"
    NO_DIGITS = "no_digits"
    HUNG_UP = "hung_up"


class RequestRefused(Exception):
    """A request the bridge does not answer at all (HTTP 403): not part of a call it runs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CallRules:
    max_call_age: timedelta
    pin_window: timedelta
    max_pin_failures_per_carer: int
    max_pin_failures_per_line: int
    max_tries_per_call: int
    repeat_window: timedelta
    open_stay: timedelta
    # A carer whose provider has a visit planned at this home this close to now is expected
    # there: failures elsewhere do not lock them out of it.
    expected_window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> CallRules:
        return cls(
            max_call_age=timedelta(seconds=settings.telephony_max_call_age_s),
            pin_window=timedelta(seconds=settings.telephony_pin_window_s),
            max_pin_failures_per_carer=settings.telephony_max_pin_failures_per_carer,
            max_pin_failures_per_line=settings.telephony_max_pin_failures_per_line,
            max_tries_per_call=settings.telephony_max_tries_per_call,
            repeat_window=timedelta(seconds=settings.telephony_repeat_window_s),
            open_stay=timedelta(hours=settings.telephony_open_stay_hours),
            expected_window=timedelta(minutes=settings.visits_match_window_minutes),
        )


@dataclass(frozen=True)
class VoiceRequest:
    """One webhook request of the provider, its signature already checked."""

    step: Step
    params: Mapping[str, str]

    @property
    def call_sid(self) -> str:
        return self.params.get("CallSid", "")

    @property
    def digits(self) -> str:
        # A lone hash key is nothing keyed: the provider may pass it on as the digits.
        return self.params.get("Digits", "").strip().rstrip("#")

    def fingerprint(self, tries: int) -> str:
        """The request's identity within its call: its step and fields, and how many tries
        the call had used, because a caller who keys the same carer number on a second try
        sends exactly the fields of the first try."""
        fields = (f"{name}={value}" for name, value in sorted(self.params.items()))
        canonical = "\0".join([self.step.value, str(tries), *fields])
        return hashlib.sha256(canonical.encode()).hexdigest()


# Twilio's CallStatus values for a call that is over.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class StatusRequest:
    """The provider's status callback for a call, its signature already checked."""

    params: Mapping[str, str]

    @property
    def call_sid(self) -> str:
        return self.params.get("CallSid", "")

    @property
    def final(self) -> bool:
        return self.params.get("CallStatus", "") in FINAL_STATUSES


@dataclass(frozen=True)
class Answer:
    twiml: str
    # Events saved to the outbox by this answer: the publisher should look now.
    new_events: int = 0


SAY = {
    "welcome": "Welcome. Please key your carer number, then press the hash key.",
    "pin": "Now key your PIN, then press the hash key.",
    "not_a_number": "That is not a carer number.",
    "mismatch": "That carer number and PIN do not match.",
    "again": "Please key your carer number again, then press the hash key.",
}


def spoken_time(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%H:%M")


class CallDesk:
    """Answers the provider's requests for every call; one per telephony process."""

    def __init__(
        self,
        rules: CallRules,
        pins: PinHasher,
        ring: KeyRing,
        action_url: Callable[[Step], str],
        clock: Callable[[], datetime],
    ) -> None:
        self._rules = rules
        self._pins = pins
        self._ring = ring
        self._action_url = action_url
        self._clock = clock
        self._signers: dict[str, bridges.Signer] = {}

    def answer(self, conn: Connection, request: VoiceRequest) -> Answer:
        now = self._clock()
        call_sid = request.call_sid
        if not CALL_SID.match(call_sid):
            raise RequestRefused("bad_request", "CallSid is missing or malformed")
        call = repository.lock_call(conn, call_sid)
        if call is None:
            if request.step is not Step.START:
                raise RequestRefused("unknown_call", f"no call {call_sid} was started here")
            call = repository.start_call(
                conn,
                call_sid,
                now,
                request.params.get("From", "")[:64],
                request.params.get("To", "")[:64],
            )
            if call is None:  # a concurrent first request recorded it: go the slow way
                call = repository.lock_call(conn, call_sid)
                assert call is not None
            else:
                return self._finish(conn, call, request, now, self._start(conn, call, now))
        if now - call.first_seen_at > self._rules.max_call_age:
            raise RequestRefused(
                "stale", f"call {call_sid} was first seen at {call.first_seen_at.isoformat()}"
            )
        stored = repository.stored_answer(conn, call_sid, request.fingerprint(call.attempts))
        if stored is not None:
            # A retry or a replay of a request already answered: the same answer, no effects.
            return Answer(stored)
        if call.stage != request.step.value:
            raise RequestRefused(
                "out_of_sequence", f"call {call_sid} is at {call.stage!r}, not {request.step}"
            )
        if not request.digits:
            # The Gather timed out or the caller pressed only the hash key.
            answer = self._refuse(conn, call, Refusal.NO_DIGITS, twiml.NO_DIGITS)
        elif request.step is Step.CARER:
            answer = self._carer_number(conn, call, request.digits)
        else:
            answer = self._pin(conn, call, request.digits, now)
        return self._finish(conn, call, request, now, answer)

    def ended(self, conn: Connection, request: StatusRequest) -> None:
        """The provider's status callback: the call is over. A call still waiting for digits
        was hung up on; it is finished as refused `hung_up`, so the call log says why nothing
        was recorded. A finished call is left as it is, so a repeated callback changes
        nothing."""
        call_sid = request.call_sid
        if not CALL_SID.match(call_sid):
            raise RequestRefused("bad_request", "CallSid is missing or malformed")
        call = repository.lock_call(conn, call_sid)
        if call is None:
            raise RequestRefused("unknown_call", f"no call {call_sid} was started here")
        if call.stage == "done" or not request.final:
            return
        self._refuse(conn, call, Refusal.HUNG_UP, "")

    def _finish(
        self, conn: Connection, call: Call, request: VoiceRequest, now: datetime, answer: Answer
    ) -> Answer:
        repository.save_answer(
            conn,
            call.call_sid,
            request.fingerprint(call.attempts),
            request.step.value,
            now,
            answer.twiml,
        )
        return answer

    # The steps ---------------------------------------------------------------------------

    def _start(self, conn: Connection, call: Call, now: datetime) -> Answer:
        try:
            called = to_e164(call.called)
        except NumberError:
            called = call.called
        provider_id = repository.provider_of_number(conn, called)
        if provider_id is None:
            return self._refuse(
                conn,
                call,
                Refusal.NUMBER_UNREGISTERED,
                "This number is not set up for care visits. Nothing has been recorded. Goodbye.",
            )
        repository.update_call(conn, call.call_sid, provider_id=provider_id, called=called)
        if is_withheld(call.caller):
            return self._refuse(
                conn,
                call,
                Refusal.CALLER_WITHHELD,
                "Your number is withheld, so we cannot tell which home you are calling from. "
                "Nothing has been recorded. Please call from the home's phone with its number "
                "shown, or use the app.",
            )
        try:
            caller = to_e164(call.caller)
        except NumberError:
            caller = call.caller
        service_user_id = repository.home_of_landline(conn, caller)
        if service_user_id is None:
            return self._refuse(
                conn,
                call,
                Refusal.CALLER_UNREGISTERED,
                "This phone line is not registered for care visits. Nothing has been recorded. "
                "Please use the app, or ask your office to register this line.",
            )
        repository.update_call(conn, call.call_sid, caller=caller, service_user_id=service_user_id)
        if self._line_throttled(conn, caller, now):
            return self._refuse(conn, call, Refusal.LINE_THROTTLED, _throttled_text())
        return self._gather_carer(SAY["welcome"])

    def _carer_number(self, conn: Connection, call: Call, digits: str) -> Answer:
        if not CARER_NUMBER.match(digits):
            return self._try_again(conn, call, SAY["not_a_number"])
        repository.update_call(conn, call.call_sid, carer_number=digits, stage=Step.PIN.value)
        return Answer(
            twiml.gather(SAY["pin"], self._action_url(Step.PIN), max_digits=8),
        )

    def _pin(self, conn: Connection, call: Call, digits: str, now: datetime) -> Answer:
        assert call.provider_id is not None and call.service_user_id is not None
        caller = call.caller
        carer = repository.carer_by_number(conn, call.carer_number or "")
        if self._line_throttled(conn, caller, now):
            return self._refuse(conn, call, Refusal.LINE_THROTTLED, _throttled_text())
        if carer is not None and self._carer_throttled(conn, call, carer.carer_id, now):
            return self._refuse(conn, call, Refusal.CARER_THROTTLED, _throttled_text())
        if carer is None or carer.pin_hash is None:
            self._pins.burn_time(digits)
            right = False
        else:
            right = bool(PIN_DIGITS.match(digits)) and self._pins.verify(
                carer.pin_hash, carer.carer_id, digits
            )
        repository.record_pin_attempt(
            conn, now, call.call_sid, caller, carer.carer_id if carer else None, right
        )
        if not right or carer is None:
            log.info(
                "wrong carer number or PIN",
                extra={"call_sid": call.call_sid, "carer_id": carer.carer_id if carer else None},
            )
            return self._try_again(conn, call, SAY["mismatch"])
        repository.update_call(conn, call.call_sid, carer_id=carer.carer_id)
        if carer.provider_id != call.provider_id:
            # The carer proved who they are, on another provider's number: the event is signed
            # for the record, and ingest quarantines it as carer_not_with_provider.
            return self._record(
                conn,
                call,
                carer.carer_id,
                now,
                EventType.CHECK_IN,
                refusal=Refusal.CARER_NOT_WITH_PROVIDER,
                say="You are registered with another care company, so nothing has been "
                "recorded for you on this number. Please call your own company's number.",
            )
        last = repository.last_event(
            conn, carer.carer_id, call.service_user_id, now - self._rules.open_stay, now
        )
        if last is not None and now - last.device_time <= self._rules.repeat_window:
            done = "checked in" if last.event_type == EventType.CHECK_IN else "checked out"
            return self._refuse(
                conn,
                call,
                Refusal.REPEATED_CALL,
                f"You {done} at {spoken_time(last.device_time)} a moment ago, so this call "
                "records nothing new. Call again when you leave to check out.",
            )
        if last is not None and last.event_type == EventType.CHECK_IN:
            minutes = int((now - last.device_time).total_seconds() // 60)
            return self._record(
                conn,
                call,
                carer.carer_id,
                now,
                EventType.CHECK_OUT,
                say=f"Checked out at {spoken_time(now)}, after {minutes} minutes. Thank you. "
                "Goodbye.",
            )
        return self._record(
            conn,
            call,
            carer.carer_id,
            now,
            EventType.CHECK_IN,
            say=f"Checked in at {spoken_time(now)}. Please call again when you leave. Goodbye.",
        )

    # Outcomes -----------------------------------------------------------------------------

    def _record(
        self,
        conn: Connection,
        call: Call,
        carer_id: str,
        now: datetime,
        event_type: EventType,
        *,
        say: str,
        refusal: Refusal | None = None,
    ) -> Answer:
        assert call.provider_id is not None and call.service_user_id is not None
        signer = self._signer(conn, call.provider_id)
        if signer is None:
            log.error(
                "no telephony bridge device for provider %s: run `ecm telephony provision`",
                call.provider_id,
                extra={"call_sid": call.call_sid},
            )
            return self._refuse(
                conn,
                call,
                Refusal.BRIDGE_UNAVAILABLE,
                "The telephone service is not set up for your care company yet. Nothing has "
                "been recorded. Please use the app, or tell your office.",
            )
        event_id = uuid.uuid4()
        seq = repository.take_seq(conn, signer.device_id)
        # Handsets stamp events to the millisecond; so does the bridge.
        device_time = now.replace(microsecond=now.microsecond // 1000 * 1000)
        claims = EventClaims.build(
            event_id=event_id,
            device_id=signer.device_id,
            carer_id=carer_id,
            seq=seq,
            type=event_type,
            device_time=device_time,
            service_user_id=call.service_user_id,
            landline=LandlineCall(caller=call.caller, called=call.called, call_id=call.call_sid),
        )
        jws = sign_compact(claims.to_json(), signer.key, kid=signer.device_id)
        repository.save_event(
            conn,
            event_id=event_id,
            call_sid=call.call_sid,
            device_id=signer.device_id,
            seq=seq,
            event_type=event_type.value,
            device_time=device_time,
            carer_id=carer_id,
            service_user_id=call.service_user_id,
            jws=jws,
            refusal=refusal.value if refusal else None,
        )
        repository.update_call(
            conn,
            call.call_sid,
            stage="done",
            outcome="refused" if refusal else event_type.value,
            refusal=refusal.value if refusal else None,
            event_id=event_id,
            finished_at=now,
        )
        log.info(
            "call recorded as %s",
            refusal.value if refusal else event_type.value,
            extra={"call_sid": call.call_sid, "event_id": str(event_id), "carer_id": carer_id},
        )
        return Answer(twiml.say_and_hang_up(say), new_events=1)

    def _refuse(self, conn: Connection, call: Call, refusal: Refusal, say: str) -> Answer:
        repository.update_call(
            conn,
            call.call_sid,
            stage="done",
            outcome="refused",
            refusal=refusal.value,
            finished_at=self._clock(),
        )
        log.info("call refused: %s", refusal.value, extra={"call_sid": call.call_sid})
        return Answer(twiml.say_and_hang_up(say))

    def _try_again(self, conn: Connection, call: Call, said: str) -> Answer:
        tries = call.attempts + 1
        if tries >= self._rules.max_tries_per_call:
            repository.update_call(conn, call.call_sid, attempts=tries)
            return self._refuse(
                conn,
                call,
                Refusal.PIN_MISMATCH,
                f"{said} That was the last try on this call. Nothing has been recorded. Goodbye.",
            )
        repository.update_call(
            conn, call.call_sid, attempts=tries, stage=Step.CARER.value, carer_number=None
        )
        return self._gather_carer(f"{said} {SAY['again']}")

    def _gather_carer(self, prompt: str) -> Answer:
        return Answer(twiml.gather(prompt, self._action_url(Step.CARER), max_digits=10))

    # Throttle -----------------------------------------------------------------------------

    def _line_throttled(self, conn: Connection, caller: str, now: datetime) -> bool:
        failures, _ = repository.line_failures(conn, caller, now - self._rules.pin_window)
        return failures >= self._rules.max_pin_failures_per_line

    def _carer_throttled(self, conn: Connection, call: Call, carer_id: str, now: datetime) -> bool:
        """Too many wrong PINs for this carer, unless the carer is expected at this home.

        A stranger on some registered line who keys a carer's number with wrong PINs could
        otherwise lock that carer out of every home. So the per-carer limit does not apply
        where the carer's provider has a visit planned at this home about now, or where the
        carer is checked in and is calling to check out: guessing there is still bounded by
        the per-line limit, and lock-outs stay with lines the carer has no business on."""
        failures, _ = repository.carer_failures(conn, carer_id, now - self._rules.pin_window)
        if failures < self._rules.max_pin_failures_per_carer:
            return False
        assert call.provider_id is not None and call.service_user_id is not None
        window = self._rules.expected_window
        if repository.planned_visit_near(
            conn, call.provider_id, call.service_user_id, now - window, now + window
        ):
            return False
        last = repository.last_event(
            conn, carer_id, call.service_user_id, now - self._rules.open_stay, now
        )
        return not (last is not None and last.event_type == EventType.CHECK_IN)

    def _signer(self, conn: Connection, provider_id: str) -> bridges.Signer | None:
        signer = self._signers.get(provider_id)
        if signer is None:
            device = repository.bridge_device(conn, provider_id)
            if device is None:
                return None
            signer = self._signers[provider_id] = bridges.open_signer(self._ring, device)
        return signer


def _throttled_text() -> str:
    return (
        "Too many wrong PINs have been keyed. Nothing has been recorded. Please try again "
        "later, use the app, or ask your office."
    )
