"""Foundation: registry, append-only event store, quarantine.

The event store is a TimescaleDB hypertable where the extension is available, otherwise a
PostgreSQL table partitioned by month on device time. It is partitioned on device time (not
receive time) because device time is inside the signed payload: a re-sent event carries the same
(event_id, device_time) and the unique key, which must include the partition column, catches it.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

REGISTRY = """
create table provider (
    id text primary key check (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name text not null,
    created_at timestamptz not null default now()
);
create table carer (
    id text primary key check (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    provider_id text not null references provider(id),
    name text not null,
    created_at timestamptz not null default now()
);
create index carer_provider_idx on carer(provider_id);
create table device (
    id text primary key check (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    provider_id text not null references provider(id),
    public_key text not null,
    status text not null default 'active' check (status in ('active', 'revoked')),
    created_at timestamptz not null default now()
);
create index device_provider_idx on device(provider_id);
create table service_user (
    id text primary key check (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name text not null,
    home_lat double precision,
    home_lon double precision,
    geofence_m real not null default 150 check (geofence_m > 0),
    home_tag_uid text unique,
    created_at timestamptz not null default now()
);
"""

EVENT_COLUMNS = """
    event_id uuid not null,
    device_time timestamptz not null,
    received_at timestamptz not null,
    stored_at timestamptz not null default now(),
    device_id text not null,
    provider_id text not null,
    carer_id text not null,
    service_user_id text,
    seq bigint not null,
    event_type text not null check (event_type in ('check_in', 'check_out')),
    tag_uid text,
    gps_lat double precision,
    gps_lon double precision,
    gps_accuracy_m real,
    gps_fix_time timestamptz,
    protocol_version smallint not null,
    topic text not null,
    raw_jws text not null,
    claims jsonb not null,
    primary key (event_id, device_time)
"""

PARTITION_FUNCTION = """
create function ecm_ensure_event_partitions(first_month date, months int) returns int
language plpgsql as $$
declare
    created int := 0;
    m date;
    name text;
begin
    for i in 0 .. months - 1 loop
        m := (date_trunc('month', first_month) + make_interval(months => i))::date;
        name := format('device_event_%s', to_char(m, 'YYYY_MM'));
        if to_regclass(name) is null then
            execute format(
                'create table %I partition of device_event for values from (%L) to (%L)',
                name, m::timestamptz, (m + interval '1 month')::timestamptz
            );
            created := created + 1;
        end if;
    end loop;
    return created;
end $$;
"""

APPEND_ONLY = """
create function ecm_forbid_evidence_change() returns trigger language plpgsql as $$
begin
    raise exception 'device events are evidence and cannot be changed (% on %)',
        tg_op, tg_table_name using errcode = 'insufficient_privilege';
end $$;
create trigger device_event_append_only before update or delete on device_event
    for each row execute function ecm_forbid_evidence_change();
"""

QUARANTINE = """
create table quarantined_message (
    id bigint generated always as identity primary key,
    received_at timestamptz not null,
    quarantined_at timestamptz not null default now(),
    topic text not null,
    payload bytea not null,
    reason text not null,
    detail text not null,
    device_id text,
    event_id uuid
);
create index quarantined_message_received_idx on quarantined_message(received_at);
create index quarantined_message_reason_idx on quarantined_message(reason);
"""


def _timescaledb_available() -> bool:
    bind = op.get_bind()
    row = bind.exec_driver_sql(
        "select 1 from pg_available_extensions where name = 'timescaledb'"
    ).first()
    return row is not None


def upgrade() -> None:
    op.execute(REGISTRY)
    if _timescaledb_available():
        op.execute("create extension if not exists timescaledb")
        op.execute(f"create table device_event ({EVENT_COLUMNS})")
        op.execute(
            "select create_hypertable('device_event', 'device_time',"
            " chunk_time_interval => interval '1 day')"
        )
    else:
        op.execute(f"create table device_event ({EVENT_COLUMNS}) partition by range (device_time)")
        op.execute(PARTITION_FUNCTION)
        # Two years behind (late uploads, historic imports) and two ahead; a default partition
        # keeps an event with a wild device clock as evidence instead of failing the batch.
        op.execute(
            "select ecm_ensure_event_partitions("
            "(date_trunc('month', now()) - interval '24 months')::date, 49)"
        )
        op.execute("create table device_event_default partition of device_event default")
    op.execute(
        "create index device_event_provider_time_idx on device_event(provider_id, device_time)"
    )
    op.execute("create index device_event_device_seq_idx on device_event(device_id, seq)")
    op.execute(APPEND_ONLY)
    op.execute(QUARANTINE)


def downgrade() -> None:
    op.execute("drop table quarantined_message")
    op.execute("drop table device_event cascade")
    op.execute("drop function if exists ecm_ensure_event_partitions(date, int)")
    op.execute("drop function ecm_forbid_evidence_change()")
    op.execute("drop table service_user, device, carer, provider")
