"""Ingest that no message can stop: attempts at each message, and event ids looked up by id.

- `ingest_attempt` records each batch a worker begins (the SHA-256 of each message's topic and
  payload): written in its own transaction before the batch is processed, deleted in the
  transaction that stores the batch. A row left over means a worker died holding those
  messages; a message held by a few is quarantined as `poison` instead of being processed
  again (ingest.attempt_store, ingest.worker, docs/ingest.md).
- `device_sequence(event_id)` is indexed, so the sequence rules find an event id reused under
  another seq (or by another device) with one probe per event: a `conflict`, not a second copy.

Revision ID: 0013_robust
Revises: 0012_security
Create Date: 2026-12-05
"""

from alembic import op

revision = "0013_robust"
down_revision = "0012_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table ingest_attempt (
            id bigint generated always as identity primary key,
            fingerprints bytea[] not null,
            started_at timestamptz not null default now()
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
