"""Visits: planned schedules (versioned), visits built from evidence, anomalies, corrections,
live alerts with webhook deliveries, and daily KPI summaries.

Everything here except planned visits, corrections, policies and webhook endpoints is derived
data: `visits.builder` rebuilds it from the append-only device_event table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

POLICY = """
create table council_policy (
    council_id text primary key references council(id),
    late_after_minutes integer not null default 15 check (late_after_minutes > 0),
    missed_cutoff time not null default '23:00',
    correction_approval_minutes integer not null default 30
        check (correction_approval_minutes >= 0)
);
"""

SCHEDULE = """
create table schedule_import (
    id bigint generated always as identity primary key,
    imported_at timestamptz not null default now(),
    imported_by text not null,
    source text not null,
    sha256 text not null,
    rows_read integer not null,
    rows_created integer not null,
    rows_changed integer not null,
    rows_cancelled integer not null,
    rows_unchanged integer not null,
    rows_rejected integer not null
);
create table planned_visit_version (
    visit_ref text not null,
    version integer not null,
    service_user_id text not null references service_user(id),
    provider_id text not null references provider(id),
    planned_start timestamptz not null,
    planned_minutes integer not null check (planned_minutes >= 0),
    carers_required integer not null check (carers_required >= 1),
    service_type text not null,
    status text not null check (status in ('planned', 'cancelled')),
    valid_from timestamptz not null default clock_timestamp(),
    superseded_at timestamptz,
    import_id bigint references schedule_import(id),
    primary key (visit_ref, version)
);
create unique index planned_visit_current_idx on planned_visit_version(visit_ref)
    where superseded_at is null;
create index planned_visit_user_start_idx on planned_visit_version(service_user_id, planned_start)
    where superseded_at is null;
create index planned_visit_start_idx on planned_visit_version(planned_start)
    where superseded_at is null;
create index planned_visit_valid_from_idx on planned_visit_version(valid_from);
create index planned_visit_superseded_idx on planned_visit_version(superseded_at);
"""

VISITS = """
create table visit (
    id uuid primary key,
    provider_id text not null,
    service_user_id text,
    home_key text not null,
    london_day date not null,
    planned_visit_ref text,
    planned_start timestamptz,
    planned_minutes integer,
    carers_required integer,
    check_in timestamptz,
    check_out timestamptz,
    minutes integer,
    status text not null
        check (status in ('on_time', 'late', 'short', 'missed', 'unplanned', 'open')),
    verification text not null
        check (verification in ('tag', 'code', 'location', 'manual', 'none')),
    carers integer not null,
    corrections_pending integer not null default 0,
    built_at timestamptz not null
);
create index visit_provider_day_idx on visit(provider_id, london_day);
create index visit_day_idx on visit(london_day);
create index visit_home_day_idx on visit(home_key, london_day);
create index visit_planned_idx on visit(planned_visit_ref);
create table visit_carer (
    visit_id uuid not null references visit(id) on delete cascade,
    segment_id uuid not null,
    carer_id text not null,
    device_id text,
    check_in timestamptz,
    check_out timestamptz,
    check_in_event_id uuid,
    check_out_event_id uuid,
    verification text not null,
    correction_id bigint,
    primary key (visit_id, segment_id)
);
create index visit_carer_carer_idx on visit_carer(carer_id, check_in);
create index visit_carer_device_idx on visit_carer(device_id, check_in);
create index visit_carer_segment_idx on visit_carer(segment_id);
create table visit_anomaly (
    id bigint generated always as identity primary key,
    visit_id uuid not null references visit(id) on delete cascade,
    code text not null,
    carer_id text,
    event_id uuid,
    detail text not null
);
create index visit_anomaly_visit_idx on visit_anomaly(visit_id);
create table visit_correction (
    id bigint generated always as identity primary key,
    segment_id uuid not null,
    visit_id uuid not null,
    provider_id text not null references provider(id),
    carer_id text not null,
    service_user_id text,
    reason_code text not null,
    note text not null,
    check_in timestamptz,
    check_out timestamptz,
    before jsonb not null,
    after jsonb not null,
    minutes_moved integer not null,
    requested_by text not null,
    requested_at timestamptz not null default clock_timestamp(),
    needs_approval boolean not null,
    approved_by text,
    approved_at timestamptz
);
create index visit_correction_segment_idx on visit_correction(segment_id);
create table visit_build_state (
    id integer primary key check (id = 1),
    events_watermark timestamptz not null default '1970-01-01 00:00:00+00',
    changes_watermark timestamptz not null default '1970-01-01 00:00:00+00',
    clock_watermark timestamptz not null default '1970-01-01 00:00:00+00'
);
insert into visit_build_state (id) values (1);
"""

ALERTS = """
create table visit_alert (
    id bigint generated always as identity primary key,
    visit_ref text not null,
    kind text not null check (kind in ('late', 'missed')),
    provider_id text not null,
    service_user_id text not null,
    planned_start timestamptz not null,
    threshold_at timestamptz not null,
    raised_at timestamptz not null,
    cleared_at timestamptz,
    unique (visit_ref, kind)
);
create index visit_alert_open_idx on visit_alert(visit_ref) where cleared_at is null;
create table alert_notification (
    id bigint generated always as identity primary key,
    alert_id bigint not null references visit_alert(id),
    provider_id text not null,
    action text not null check (action in ('raised', 'cleared')),
    at timestamptz not null,
    payload jsonb not null
);
create index alert_notification_provider_idx on alert_notification(provider_id, id);
create table webhook_endpoint (
    id bigint generated always as identity primary key,
    provider_id text not null references provider(id),
    url text not null,
    created_at timestamptz not null default now(),
    active boolean not null default true
);
create table webhook_delivery (
    id bigint generated always as identity primary key,
    notification_id bigint not null references alert_notification(id),
    endpoint_id bigint not null references webhook_endpoint(id),
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    delivered_at timestamptz,
    unique (notification_id, endpoint_id)
);
create index webhook_delivery_due_idx on webhook_delivery(next_attempt_at)
    where status = 'pending';
create table webhook_attempt (
    id bigint generated always as identity primary key,
    delivery_id bigint not null references webhook_delivery(id),
    attempted_at timestamptz not null,
    status_code integer,
    error text
);
"""

KPIS = """
create table kpi_daily (
    provider_id text not null,
    london_day date not null,
    council_id text not null,
    lot text not null,
    planned integer not null,
    delivered integer not null,
    on_time_15 integer not null,
    on_time_30 integer not null,
    missed integer not null,
    unplanned integer not null,
    planned_minutes bigint not null,
    delivered_planned_minutes bigint not null,
    delivered_minutes bigint not null,
    tag_or_code_verified integer not null,
    primary key (provider_id, london_day, council_id, lot)
);
create index kpi_daily_council_day_idx on kpi_daily(council_id, london_day);
"""

# The builder finds what changed by stored_at and reads one home's evidence by time; without
# these it would scan the whole event store on every pass.
EVENT_INDEXES = """
create index device_event_stored_at_idx on device_event(stored_at);
create index device_event_home_time_idx on device_event(service_user_id, device_time);
"""


def upgrade() -> None:
    for block in (POLICY, SCHEDULE, VISITS, ALERTS, KPIS, EVENT_INDEXES):
        op.execute(block)


def downgrade() -> None:
    op.execute("drop index device_event_stored_at_idx, device_event_home_time_idx")
    op.execute(
        "drop table kpi_daily, webhook_attempt, webhook_delivery, webhook_endpoint, "
        "alert_notification, visit_alert, visit_build_state, visit_correction, visit_anomaly, "
        "visit_carer, visit, planned_visit_version, schedule_import, council_policy"
    )
