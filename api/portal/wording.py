"""The portal's plain words for the system's codes: statuses, evidence levels, reasons,
anomalies, durations and days. Pages show these, never the raw codes alone."""

from __future__ import annotations

from datetime import date

from reconciliation import wording as reconciliation_wording
from visits.alert_console import ALERT_REASONS
from visits.corrections import REASON_CODES

STATUS_WORDS = {
    "on_time": "On time",
    "late": "Late",
    "short": "Short",
    "missed": "Missed",
    "unplanned": "Not planned",
    "open": "In progress",
}
VERIFICATION_WORDS = {
    "tag": "Home tag tapped",
    "code": "Home code device",
    "location": "Phone location at the home",
    "manual": "Entered by hand",
    "none": "Not verified",
}
ANOMALY_WORDS = {
    "carer_in_two_homes": "The carer was recorded in two homes at once",
    "impossible_travel": "The carer could not have travelled between homes that fast",
    "handset_shared": "One phone was used by two carers",
    "device_clock_skew": "The phone's clock was wrong",
    "gps_outside_geofence": "The phone was outside the home's area",
    "tag_far_from_home": "The home tag was tapped far from the home",
    "far_shorter_than_planned": "Much shorter than planned",
    "carer_missing": "Fewer carers than planned",
}


def status_words(status: str | None) -> str:
    return STATUS_WORDS.get(status or "", (status or "").replace("_", " "))


def verification_words(level: str | None) -> str:
    return VERIFICATION_WORDS.get(level or "", (level or "").replace("_", " "))


def evidence_words(level: str | None) -> str:
    """An event's evidence level, as the event page says it."""
    return verification_words(level)


def correction_reason(code: str | None) -> str:
    return REASON_CODES.get(code or "", code or "").rstrip(".")


def alert_reason(code: str | None) -> str:
    return ALERT_REASONS.get(code or "", code or "")


def anomaly_words(code: str | None) -> str:
    return ANOMALY_WORDS.get(code or "", (code or "").replace("_", " "))


def outcome_words(outcome: str | None) -> str:
    return reconciliation_wording.outcome_words(outcome or "")


def reason_words(code: str | None) -> str:
    return reconciliation_wording.reason_words(code)


def duration(seconds: float | int | None) -> str:
    """ "1 h 52 min", "4 min", "35 s": how long, as a person says it."""
    if seconds is None:
        return "-"
    whole = round(abs(float(seconds)))
    if whole < 60:
        return f"{whole} s"
    if whole < 600 and whole % 60:
        return f"{whole // 60} min {whole % 60} s"
    hours, rest = divmod(whole // 60, 60)
    days, hours = divmod(hours, 24)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if rest or not parts:
        parts.append(f"{rest} min")
    return " ".join(parts)


def minutes(value: int | None) -> str:
    """Whole minutes: "0 min", "45 min", "1 h 52 min"."""
    if value is None:
        return "-"
    return duration(value * 60) if value else "0 min"


def plain(message: str | None) -> str:
    """A message for a person: without the developer's backticks, starting with a capital."""
    text = (message or "").replace("`", "").strip()
    return text[:1].upper() + text[1:] if text else text


def day(value: date | None) -> str:
    """ "Tuesday 10 February 2026"."""
    return "" if value is None else value.strftime("%A %-d %B %Y")
