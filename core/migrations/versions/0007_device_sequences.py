"""Per-device sequence numbers: which event holds each (device, seq), for the replay rules.

device_event is partitioned by device time, so a unique index there must include device_time
and cannot say "one event per (device, seq)". This small unpartitioned table can: its primary
key makes a second, different event with a seq already used a replay, even when two ingest
workers see both at once; its index also answers "highest seq stored for this device" in one
probe. Rows are written by ingest in the same transaction as the events they describe.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table device_sequence (
            device_id text not null,
            seq bigint not null,
            event_id uuid not null,
            stored_at timestamptz not null default now(),
            primary key (device_id, seq)
        );
        create trigger device_sequence_append_only before update or delete on device_sequence
            for each row execute function ecm_forbid_evidence_change();
        -- Events stored before this revision hold their seqs too (the first stored wins).
        insert into device_sequence (device_id, seq, event_id, stored_at)
        select distinct on (device_id, seq) device_id, seq, event_id, stored_at
        from device_event order by device_id, seq, stored_at;
        """
    )


def downgrade() -> None:
    op.execute("drop table device_sequence")
