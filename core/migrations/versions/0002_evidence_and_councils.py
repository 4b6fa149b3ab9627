"""Evidence columns on the event store; councils and the providers they commission.

The evidence columns are filled by ingest when it verifies an event (tag tap decrypted, code
checked, distance to the home measured), so later stages read evidence, never re-derive it.
Councils commission providers, optionally per lot (area); service users belong to a council.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EVIDENCE = """
alter table device_event
    add column tag_counter bigint,
    add column totp_verified boolean,
    add column gps_distance_m real,
    add column gps_within_fence boolean,
    add column evidence_level text not null default 'none'
        check (evidence_level in ('tag', 'code', 'location', 'none')),
    add column late_arriving boolean not null default false;
"""

COUNCILS = """
create table council (
    id text primary key check (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name text not null,
    created_at timestamptz not null default now()
);
create table commission (
    council_id text not null references council(id),
    provider_id text not null references provider(id),
    lot text,
    created_at timestamptz not null default now(),
    primary key (council_id, provider_id)
);
create index commission_provider_idx on commission(provider_id);
alter table service_user add column council_id text references council(id);
create index service_user_council_idx on service_user(council_id);
"""


def upgrade() -> None:
    op.execute(EVIDENCE)
    op.execute(COUNCILS)


def downgrade() -> None:
    op.execute("alter table service_user drop column council_id")
    op.execute("drop table commission, council")
    op.execute(
        "alter table device_event drop column tag_counter, drop column totp_verified, "
        "drop column gps_distance_m, drop column gps_within_fence, drop column evidence_level, "
        "drop column late_arriving"
    )
