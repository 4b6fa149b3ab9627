"""Ingest that no message can stop: attempts at each message, and event ids looked up by id.

- `ingest_attempt` counts, per message (the SHA-256 of its topic and payload), how many times a
  worker began processing it without committing: written in its own transaction before the
  batch is processed, deleted in the transaction that stores the batch. A count left over means
  a worker died holding the message; after a few, the message is quarantined as `poison`
  instead of being processed again (ingest.worker, docs/ingest.md).
- `device_sequence(event_id)` is indexed, so the sequence rules find an event id reused under
  another seq (or by another device) with one probe per event: a `conflict`, not a second copy.

Revision ID: 0014_robust
Revises: 0012_security
Create Date: 2026-12-05
"""

from alembic import op

revision = "0014_robust"
down_revision = "0012_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table ingest_attempt (
            fingerprint bytea primary key,
            topic text not null,
            attempts integer not null,
            first_at timestamptz not null default now(),
            last_at timestamptz not null default now()
        );
        create index device_sequence_event_idx on device_sequence(event_id);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        drop index device_sequence_event_idx;
        drop table ingest_attempt;
        """
    )
