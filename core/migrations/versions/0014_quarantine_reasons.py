"""Quarantine reasons are the protocol's words: a check constraint on quarantined_message.reason
allows exactly gateway.protocol.Rejection (tests/core/test_vocabulary.py holds the two together).

The constraint is added NOT VALID: it binds every row written from now on, while rows written
by an earlier release under a word since retired stay as they were (evidence of what happened,
not to be rewritten). A new Rejection needs a migration that replaces this constraint.

Revision ID: 0014_quarantine_reasons
Revises: 0013_robust
Create Date: 2026-12-05
"""

from alembic import op

revision = "0014_quarantine_reasons"
down_revision = "0013_robust"
branch_labels = None
depends_on = None

REASONS = (
    "bad_topic",
    "not_jws",
    "bad_header",
    "unsupported_alg",
    "missing_kid",
    "unknown_device",
    "device_revoked",
    "bad_signature",
    "invalid_claims",
    "unsupported_version",
    "device_mismatch",
    "unknown_carer",
    "carer_not_with_provider",
    "unknown_service_user",
    "tag_unknown",
    "tag_bad_mac",
    "tag_wrong_home",
    "tag_retired",
    "tag_counter_replayed",
    "tag_counter_out_of_order",
    "code_invalid",
    "landline_not_bridge",
    "landline_wrong_home",
    "clock_skew",
    "seq_replayed",
    "seq_too_old",
    "conflict",
    "store_error",
    "malformed",
    "poison",
)


def upgrade() -> None:
    # Written out, not imported: a migration keeps the words of its own day.
    words = ", ".join(f"'{reason}'" for reason in REASONS)
    op.execute(
        "alter table quarantined_message add constraint quarantined_message_reason_check "
        f"check (reason in ({words})) not valid"
    )


def downgrade() -> None:
    op.execute("alter table quarantined_message drop constraint quarantined_message_reason_check")
