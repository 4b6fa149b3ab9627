"""Receipts (protocol v1.1): the server tells a handset what became of each event it sent.

Shared by ingest (which builds them after each commit) and by handsets (firmware-sim, the
telephony bridge), which read them. The wire format is in docs/protocol.md, receipts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from gateway.protocol.rejection import Rejection
from gateway.protocol.topics import DEVICE_ID

RECEIPT_VERSION = 1


class Outcome(StrEnum):
    STORED = "stored"
    # Already stored earlier (a resend whose first receipt did not arrive): as good as stored.
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class ReceiptEntry:
    event_id: UUID
    outcome: Outcome
    # The quarantine reason; None unless the outcome is quarantined.
    reason: str | None = None

    @property
    def counted(self) -> bool:
        return self.outcome is not Outcome.QUARANTINED


class BadReceipt(ValueError):
    pass


def receipts_topic(device_id: str) -> str:
    if not DEVICE_ID.match(device_id):
        raise ValueError(f"invalid device id {device_id!r}")
    return f"ecm/v1/devices/{device_id}/receipts"


def encode_receipt(entries: list[ReceiptEntry]) -> bytes:
    items = []
    for entry in entries:
        item = {"event_id": str(entry.event_id), "outcome": entry.outcome.value}
        if entry.reason is not None:
            item["reason"] = entry.reason
        items.append(item)
    return json.dumps({"ver": RECEIPT_VERSION, "receipts": items}, separators=(",", ":")).encode()


def parse_receipt(payload: bytes) -> list[ReceiptEntry]:
    """The entries of a receipt message; BadReceipt if it is not one.

    Unknown members are ignored and an unknown outcome is skipped (the event stays in the
    outbox and is sent again), so a later server may add to the format.
    """
    try:
        document = json.loads(payload)
        items = document["receipts"]
        if not isinstance(items, list):
            raise TypeError("receipts is not a list")
        entries = []
        for item in items:
            try:
                outcome = Outcome(item["outcome"])
            except ValueError:
                continue
            reason = item.get("reason")
            entries.append(
                ReceiptEntry(UUID(item["event_id"]), outcome, str(reason) if reason else None)
            )
        return entries
    except (ValueError, TypeError, KeyError) as exc:
        raise BadReceipt(f"not a receipt: {exc}") from exc


# What the carer is shown per outcome: plain words, an action when there is one to take. Only
# reasons found after the signature verified appear in receipts (ingest.receipts).
COUNTED = "visit counted"
CARER_WORDS: dict[str, str] = {
    Rejection.TAG_UNKNOWN: "tag not accepted, tap again",
    Rejection.TAG_BAD_MAC: "tag not accepted, tap again",
    Rejection.TAG_WRONG_HOME: "this tag belongs to another home: check the address",
    Rejection.TAG_RETIRED: "this tag is no longer in use: tell the office",
    Rejection.TAG_COUNTER_REPLAYED: "tag not accepted, tap again",
    Rejection.TAG_COUNTER_OUT_OF_ORDER: "tag not accepted, tap again",
    Rejection.CODE_INVALID: "code not accepted: type the code on the fob again",
    Rejection.CLOCK_SKEW: "phone clock is wrong: set the time, then tell the office",
    Rejection.UNKNOWN_CARER: "you are not registered on this phone: tell the office",
    Rejection.CARER_NOT_WITH_PROVIDER: "you are not registered on this phone: tell the office",
    Rejection.UNKNOWN_SERVICE_USER: "this client is not on the system: tell the office",
}
NOT_COUNTED = "visit not counted: tell the office"


def carer_message(entry: ReceiptEntry) -> str:
    """The words the handset shows the carer for one receipted event."""
    if entry.counted:
        return COUNTED
    return CARER_WORDS.get(entry.reason or "", NOT_COUNTED)
