"""Machine-readable reasons an event is refused; each lands in quarantine with its reason."""

from __future__ import annotations

from enum import StrEnum


class Rejection(StrEnum):
    BAD_TOPIC = "bad_topic"
    NOT_JWS = "not_jws"
    BAD_HEADER = "bad_header"
    UNSUPPORTED_ALG = "unsupported_alg"
    MISSING_KID = "missing_kid"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_REVOKED = "device_revoked"
    BAD_SIGNATURE = "bad_signature"
    INVALID_CLAIMS = "invalid_claims"
    UNSUPPORTED_VERSION = "unsupported_version"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_CARER = "unknown_carer"
    CARER_NOT_WITH_PROVIDER = "carer_not_with_provider"
    UNKNOWN_SERVICE_USER = "unknown_service_user"
    TAG_UNKNOWN = "tag_unknown"
    TAG_BAD_MAC = "tag_bad_mac"
    TAG_WRONG_HOME = "tag_wrong_home"
    TAG_RETIRED = "tag_retired"
    TAG_COUNTER_REPLAYED = "tag_counter_replayed"
    TAG_COUNTER_OUT_OF_ORDER = "tag_counter_out_of_order"
    CODE_INVALID = "code_invalid"
    LANDLINE_NOT_BRIDGE = "landline_not_bridge"
    LANDLINE_WRONG_HOME = "landline_wrong_home"
    CLOCK_SKEW = "clock_skew"
    SEQ_REPLAYED = "seq_replayed"
    SEQ_TOO_OLD = "seq_too_old"
    # The same event id with different signed bytes: the stored original stays, this copy is
    # quarantined beside it (ingest.sequence).
    CONFLICT = "conflict"
    STORE_ERROR = "store_error"
    # Reading the message failed in a way no check names (a fault in ingest itself, not a
    # judgement on the event); the exception is the detail, the worker goes on.
    MALFORMED = "malformed"
    # Workers died processing this message several times over (ingest.attempt_store); it is
    # quarantined on its next delivery without being processed again.
    POISON = "poison"


class Rejected(Exception):
    """An event that cannot be accepted as evidence, with the reason and a human detail."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
