"""Home evidence devices: NTAG 424 DNA tags and TOTP fobs, keys sealed at rest; tag counters.

Secrets are stored only in envelope-encrypted form (gateway/evidence/keys.py): a wrapped data
key, the sealed secret and the id of the master key that wrapped it. tag_tap holds every
accepted tap (counter and device time) per tag, so ingest workers together refuse a replayed,
held-back or cloned tap.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
create table home_tag (
    uid text primary key check (uid ~ '^[0-9A-F]{14}$'),
    service_user_id text not null references service_user(id),
    -- meta-read key || file-read key (2 x 16 bytes), sealed
    keys_wrapped_key bytea not null,
    keys_ciphertext bytea not null,
    kek_id text not null,
    created_at timestamptz not null default now(),
    retired_at timestamptz
);
create unique index home_tag_one_active_idx on home_tag(service_user_id) where retired_at is null;
create table home_code_device (
    id bigint generated always as identity primary key,
    service_user_id text not null references service_user(id),
    secret_wrapped_key bytea not null,
    secret_ciphertext bytea not null,
    kek_id text not null,
    digits smallint not null default 8 check (digits between 6 and 10),
    step_s smallint not null default 30 check (step_s > 0),
    -- codes of this many steps either side of the event's device time are accepted
    window_steps smallint not null default 1 check (window_steps between 0 and 10),
    created_at timestamptz not null default now(),
    retired_at timestamptz
);
create unique index home_code_device_one_active_idx on home_code_device(service_user_id)
    where retired_at is null;
-- Every accepted tap of a tag: the same counter twice is a replay, and the counters must rise
-- in the order the taps happened (device time), whatever order they arrive in.
create table tag_tap (
    uid text not null,
    counter bigint not null,
    device_time timestamptz not null,
    event_id uuid not null,
    accepted_at timestamptz not null default now(),
    primary key (uid, counter)
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop table tag_tap, home_code_device, home_tag")
