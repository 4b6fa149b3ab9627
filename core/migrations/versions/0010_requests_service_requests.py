"""Commissioning: lots with their providers' roles (effective-dated), service requests offered
down each lot's cascade, the offers and every step of their history, the care packages that
accepted requests become (versioned, never overwritten), imports from the case system, and the
signed webhook notifications to providers.

The API may only append to service_request_event (the requests' history), as to audit_log.

Revision ID: 0010_requests
Revises: 0009_telephony
Create Date: 2026-11-23
"""

from alembic import op

revision = "0010_requests"
down_revision = "0009_telephony"
branch_labels = None
depends_on = None

API_ROLE = "ecm_api"

LOTS = """
create table lot (
    council_id text not null references council(id),
    id text not null check (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name text not null,
    primary key (council_id, id)
);
-- The lineup in force on a day is the one with the latest effective_from on or before it.
create table lot_lineup (
    council_id text not null,
    lot_id text not null,
    effective_from date not null,
    set_by text not null,
    set_at timestamptz not null default now(),
    primary key (council_id, lot_id, effective_from),
    foreign key (council_id, lot_id) references lot(council_id, id)
);
create table lot_member (
    council_id text not null,
    lot_id text not null,
    effective_from date not null,
    provider_id text not null references provider(id),
    role text not null check (role in ('lead', 'additional', 'dps')),
    position integer not null check (position >= 1),
    primary key (council_id, lot_id, effective_from, provider_id),
    foreign key (council_id, lot_id, effective_from)
        references lot_lineup(council_id, lot_id, effective_from) on delete cascade
);
create unique index lot_member_one_lead_idx on lot_member(council_id, lot_id, effective_from)
    where role = 'lead';
create unique index lot_member_position_idx
    on lot_member(council_id, lot_id, effective_from, role, position);
create index lot_member_provider_idx on lot_member(provider_id);
"""

REQUESTS = """
create table commissioning_policy (
    council_id text primary key references council(id),
    response_working_hours integer not null default 24
        check (response_working_hours between 1 and 720),
    additional_mode text not null default 'one_at_a_time'
        check (additional_mode in ('one_at_a_time', 'all_at_once')),
    dps_mode text not null default 'all_at_once'
        check (dps_mode in ('one_at_a_time', 'all_at_once'))
);
create table request_import (
    id bigint generated always as identity primary key,
    council_id text not null references council(id),
    imported_at timestamptz not null default now(),
    imported_by text not null,
    source text not null,
    sha256 text not null,
    rows_read integer not null,
    requests_created integer not null,
    requests_unchanged integer not null,
    rows_rejected integer not null
);
create table service_request (
    id bigint generated always as identity primary key,
    council_id text not null references council(id),
    request_ref text not null check (request_ref ~ '^[A-Za-z0-9_.-]{1,64}$'),
    service_user_id text not null references service_user(id),
    lot_id text not null,
    start_date date not null,
    end_date date check (end_date is null or end_date >= start_date),
    visits jsonb not null,
    notes text not null default '',
    status text not null check (status in ('open', 'placed', 'unplaced', 'withdrawn')),
    cascade jsonb not null,
    stage integer not null default 0,
    source text not null,
    import_id bigint references request_import(id),
    created_by text not null,
    created_at timestamptz not null,
    placed_at timestamptz,
    placed_with text references provider(id),
    placed_role text check (placed_role in ('lead', 'additional', 'dps')),
    closed_at timestamptz,
    closed_by text,
    close_reason text,
    unique (council_id, request_ref),
    foreign key (council_id, lot_id) references lot(council_id, id)
);
create index service_request_council_idx on service_request(council_id, created_at);
create index service_request_status_idx on service_request(status)
    where status in ('open', 'unplaced');
create table service_offer (
    id bigint generated always as identity primary key,
    request_id bigint not null references service_request(id),
    provider_id text not null references provider(id),
    role text not null check (role in ('lead', 'additional', 'dps')),
    stage integer not null,
    round integer not null,
    offered_at timestamptz not null,
    deadline timestamptz not null check (deadline > offered_at),
    status text not null check (status in ('open', 'accepted', 'declined', 'expired',
        'withdrawn', 'placed_elsewhere')),
    decided_at timestamptz,
    decided_by text,
    decline_reason text,
    decline_note text,
    first_viewed_at timestamptz,
    views integer not null default 0,
    check ((status = 'declined') = (decline_reason is not null))
);
create index service_offer_request_idx on service_offer(request_id, id);
create index service_offer_provider_idx on service_offer(provider_id, id);
create index service_offer_due_idx on service_offer(deadline) where status = 'open';
-- One open offer per provider and request; exactly one accepted offer per request.
create unique index service_offer_open_idx on service_offer(request_id, provider_id)
    where status = 'open';
create unique index service_offer_accepted_idx on service_offer(request_id)
    where status = 'accepted';
create table service_request_event (
    id bigint generated always as identity primary key,
    request_id bigint not null references service_request(id),
    offer_id bigint references service_offer(id),
    provider_id text,
    at timestamptz not null,
    actor text not null,
    kind text not null check (kind in ('created', 'offered', 'viewed', 'accepted', 'declined',
        'expired', 'withdrawn', 'placed_elsewhere', 'unplaced', 'reoffered',
        'package_changed', 'package_ended')),
    detail jsonb not null default '{}'
);
create index service_request_event_request_idx on service_request_event(request_id, id);
create table care_package (
    id bigint generated always as identity primary key,
    request_id bigint not null unique references service_request(id),
    council_id text not null references council(id),
    provider_id text not null references provider(id),
    service_user_id text not null references service_user(id),
    lot_id text not null,
    role text not null check (role in ('lead', 'additional', 'dps')),
    plan_from timestamptz not null,
    planned_until date not null,
    created_at timestamptz not null
);
create index care_package_provider_idx on care_package(provider_id);
create index care_package_council_idx on care_package(council_id);
create table care_package_version (
    package_id bigint not null references care_package(id),
    version integer not null check (version >= 1),
    effective_from date not null,
    start_date date not null,
    end_date date,
    visits jsonb not null,
    reason text not null check (reason in ('accepted', 'changed', 'ended')),
    made_by text not null,
    made_at timestamptz not null,
    superseded_at timestamptz,
    primary key (package_id, version)
);
create unique index care_package_version_current_idx on care_package_version(package_id)
    where superseded_at is null;
"""

NOTIFICATIONS = """
create table request_notification (
    id bigint generated always as identity primary key,
    provider_id text not null references provider(id),
    request_id bigint not null references service_request(id),
    offer_id bigint references service_offer(id),
    event text not null check (event in ('request.offered', 'request.withdrawn',
        'request.placed_elsewhere')),
    at timestamptz not null,
    payload jsonb not null
);
create index request_notification_provider_idx on request_notification(provider_id, id);
create table request_webhook_delivery (
    id bigint generated always as identity primary key,
    notification_id bigint not null references request_notification(id),
    endpoint_id bigint not null references webhook_endpoint(id),
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    delivered_at timestamptz,
    unique (notification_id, endpoint_id)
);
create index request_webhook_delivery_due_idx on request_webhook_delivery(next_attempt_at)
    where status = 'pending';
create table request_webhook_attempt (
    id bigint generated always as identity primary key,
    delivery_id bigint not null references request_webhook_delivery(id),
    attempted_at timestamptz not null,
    status_code integer,
    error text
);
"""

# The requests' history is evidence of how the council and providers behaved: append-only for
# the API, as audit_log is.
APPEND_ONLY = f"""
do $$
begin
    if exists (select from pg_roles where rolname = '{API_ROLE}') then
        revoke update, delete, truncate on service_request_event from {API_ROLE};
    end if;
end
$$;
"""


def upgrade() -> None:
    for block in (LOTS, REQUESTS, NOTIFICATIONS, APPEND_ONLY):
        op.execute(block)


def downgrade() -> None:
    op.execute(
        "drop table request_webhook_attempt, request_webhook_delivery, request_notification, "
        "care_package_version, care_package, service_request_event, service_offer, "
        "service_request, request_import, commissioning_policy, lot_member, lot_lineup, lot"
    )
