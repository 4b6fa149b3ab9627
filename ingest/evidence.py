"""Presence evidence of one verified event: the tag tap, the fob code, the landline call and
the GPS fix.

Stateless: the tap's counter is judged against the last accepted one later, in the store
transaction (ingest/tag_counters.py), where every worker sees the same counters.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.vocabulary import EvidenceLevel
from gateway.evidence import geofence, sun, totp
from gateway.protocol import EventClaims, Rejected, Rejection
from gateway.protocol.claims import TagReading
from ingest.directory import Directory
from ingest.homes import Home, HomeTag


@dataclass(frozen=True)
class Evidence:
    """What ingest established about presence in the home, stored beside the event.

    level is the strongest proof the event carries: a verified tag tap, then a valid one-time
    code, then a call from the home's registered landline (through the telephony bridge), then
    a GPS fix inside the home's geofence, else none.
    """

    level: str = EvidenceLevel.NONE  # an EvidenceLevel
    tag_uid: str | None = None
    tag_counter: int | None = None
    totp_verified: bool | None = None
    gps_distance_m: float | None = None
    gps_within_fence: bool | None = None
    late_arriving: bool = False


def establish(claims: EventClaims, directory: Directory, *, bridge: bool = False) -> Evidence:
    """Check what the event carries; a tap, code or landline call that fails is refused, never
    downgraded. `bridge`: the signing device is the gateway's telephony bridge."""
    if bridge or claims.landline is not None:
        return _landline_evidence(claims, directory, bridge)
    home: Home | None = None
    if claims.service_user_id is not None:
        needs = "tag" if claims.tag else "fob" if claims.code else None
        home = directory.home(claims.service_user_id, needs=needs)
    tap = _check_tap(claims.tag, home, directory) if claims.tag else None
    code_ok = _check_code(claims, home) if claims.code else None
    distance = within = None
    if claims.gps and home is not None and home.lat is not None and home.lon is not None:
        fence = geofence.check_fence(
            (claims.gps.lat, claims.gps.lon),
            claims.gps.accuracy_m,
            (home.lat, home.lon),
            home.geofence_m,
        )
        distance, within = round(fence.distance_m, 1), fence.within
    level = (
        EvidenceLevel.TAG
        if tap
        else EvidenceLevel.CODE
        if code_ok
        else EvidenceLevel.LOCATION
        if within
        else EvidenceLevel.NONE
    )
    return Evidence(
        level=level,
        tag_uid=tap.uid_hex if tap else None,
        tag_counter=tap.counter if tap else None,
        totp_verified=code_ok,
        gps_distance_m=distance,
        gps_within_fence=within,
    )


def _landline_evidence(claims: EventClaims, directory: Directory, bridge: bool) -> Evidence:
    """A landline call is evidence only from the telephony bridge (a handset cannot report one)
    and only from the registered landline of the home the event names."""
    call = claims.landline
    if not bridge:
        raise Rejected(
            Rejection.LANDLINE_NOT_BRIDGE,
            f"device {claims.device_id!r} is not a telephony bridge and cannot report a call",
        )
    if call is None:
        raise Rejected(
            Rejection.LANDLINE_NOT_BRIDGE,
            f"telephony bridge {claims.device_id!r} sent an event without its landline call",
        )
    if claims.service_user_id is None:
        raise Rejected(
            Rejection.LANDLINE_WRONG_HOME, "a landline call needs the event's service_user_id"
        )
    home = directory.home(claims.service_user_id, landline=call.caller)
    if home is None or home.landline != call.caller:
        raise Rejected(
            Rejection.LANDLINE_WRONG_HOME,
            f"{call.caller} is not the registered landline of {claims.service_user_id!r}",
        )
    return Evidence(level=EvidenceLevel.LANDLINE)


def _check_tap(reading: TagReading, home: Home | None, directory: Directory) -> sun.SunTap:
    message = sun.SunMessage(bytes.fromhex(reading.picc), bytes.fromhex(reading.mac))
    if home is None:
        raise Rejected(
            Rejection.TAG_WRONG_HOME, "a tap needs the event's service_user_id to bind it to a home"
        )
    if home.tag is not None:
        tap = _tap_of(home.tag, message)
        if tap is not None:
            return tap
    # Not this home's tag (or altered): find whose it is, to say why. Only refused taps pay
    # for this search, one AES block per known tag.
    for tag in directory.tags():
        if tag is home.tag or tag.picc_tag_byte(message.picc) != sun.PICC_DATA_TAG:
            continue
        tap = _tap_of(tag, message)
        if tap is None:
            continue
        if tag.service_user_id == home.service_user_id and not tag.retired:
            return tap  # the home's new tag, provisioned since the cache last loaded
        if tag.service_user_id != home.service_user_id:
            raise Rejected(
                Rejection.TAG_WRONG_HOME,
                f"tag {tag.uid} belongs to another home, not {home.service_user_id!r}",
            )
        raise Rejected(Rejection.TAG_RETIRED, f"tag {tag.uid} was replaced and is retired")
    if home.tag is None:
        raise Rejected(
            Rejection.TAG_UNKNOWN,
            f"{home.service_user_id!r} has no tag, and the tap is from no registered tag",
        )
    raise Rejected(
        Rejection.TAG_UNKNOWN,
        "PICCData decrypts under no registered tag's key: an unregistered tag, or PICCData altered",
    )


def _tap_of(tag: HomeTag, message: sun.SunMessage) -> sun.SunTap | None:
    """The tap if `tag` produced it; raises tag_bad_mac when the tag's PICCData decrypts but
    the MAC does not match (a MAC altered and a wrong file-read key look the same)."""
    try:
        tap = sun.decrypt_picc_data(tag.meta_read_key, message.picc)
    except sun.SunError:
        return None
    if tap.uid_hex != tag.uid:
        return None
    try:
        return sun.verify(tag.meta_read_key, tag.file_read_key, message)
    except sun.SunError as exc:
        raise Rejected(Rejection.TAG_BAD_MAC, f"tag {tag.uid}: {exc.detail}") from None


def _check_code(claims: EventClaims, home: Home | None) -> bool:
    assert claims.code is not None
    if home is None or home.fob is None:
        raise Rejected(Rejection.CODE_INVALID, "a code, but the home has no registered fob")
    fob = home.fob
    if not totp.verify_code(
        fob.secret,
        claims.code,
        claims.device_time,
        digits=fob.digits,
        step_s=fob.step_s,
        window=fob.window_steps,
    ):
        raise Rejected(
            Rejection.CODE_INVALID,
            f"not the fob's code within {fob.window_steps} step(s) of the device time",
        )
    return True
