"""The words the evidence, the visits and the reconciliation share, written once.

They sit in the foundation, beside the migrations whose check constraints spell the same
words (tests/core/test_vocabulary.py holds the two together), so every layer can use them.
The reasons a message is quarantined are the wire protocol's (gateway.protocol.Rejection)."""

from __future__ import annotations

from enum import StrEnum


class EvidenceLevel(StrEnum):
    """What ingest established about presence in the home for one event, strongest first
    (device_event.evidence_level)."""

    TAG = "tag"  # a verified tap on the home's NFC tag
    CODE = "code"  # a valid one-time code from the home's fob
    # A call from the home's registered landline with the carer's PIN, signed by the telephony
    # bridge (docs/evidence.md, "Landline calls").
    LANDLINE = "landline"
    LOCATION = "location"  # a GPS fix inside the home's geofence
    NONE = "none"


class Verification(StrEnum):
    """How well a carer's stay, or a visit, is proven: its weakest event's evidence level, or
    `manual` when a correction set its times (visit.verification, visit_carer.verification, the
    actuals.csv column the reconciliation reads)."""

    TAG = "tag"
    CODE = "code"
    LANDLINE = "landline"
    LOCATION = "location"
    MANUAL = "manual"
    NONE = "none"


# Strongest first. A visit is as strong as its weakest end: a check-in by tag with a check-out
# typed in by hand proves presence at arrival only. A call from the home's landline (caller id
# plus the carer's PIN, through the telephony bridge) sits below a tag or fob code, whose
# secrets cannot be spoofed from outside, and above GPS, which the carer's own phone reports.
VERIFICATION_RANK: dict[str, int] = {
    Verification.TAG: 5,
    Verification.CODE: 4,
    Verification.LANDLINE: 3,
    Verification.LOCATION: 2,
    Verification.MANUAL: 1,
    Verification.NONE: 0,
}


class VisitStatus(StrEnum):
    """What a built visit came to (visit.status); decided in visits/pairing.py."""

    ON_TIME = "on_time"
    LATE = "late"
    SHORT = "short"
    MISSED = "missed"
    UNPLANNED = "unplanned"
    OPEN = "open"
