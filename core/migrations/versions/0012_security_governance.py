"""Security and data governance: sign-in throttling and forced password resets, signed audit
checkpoints, retention policies with the role allowed to purge, subject erasure records, and
certificate rotation with an overlap.

- `app_user` gains a token generation (a forced reset or a new password ends every token issued
  before) and a one-time reset code (stored as its SHA-256).
- `login_attempt` is read per (account, address) pair for the growing delays.
- `audit_checkpoint` holds signed statements of the audit chain's head (api.audit.checkpoints);
  like the trail it is append-only.
- `retention_policy` holds each council's retention periods; `retention_purge` and
  `erasure_request` record what the retention role removed and why. The role `ecm_retention`
  (no login) is the only one the append-only triggers let delete evidence, audit entries and
  sequences, and the only one that may call `ecm_retention_drop_event_partition`. An event
  trigger (where the migrating user is a superuser) refuses dropping any part of the event store
  outside that function.
- `device_certificate` may hold a second live certificate during a rotation: the old one gets
  `retires_at` and is revoked once that passes (gateway.pki.rotation).

Revision ID: 0012_security
Revises: 0011_portal
Create Date: 2026-11-23
"""

from alembic import op

revision = "0012_security"
down_revision = "0011_portal"
branch_labels = None
depends_on = None

API_ROLE = "ecm_api"
RETENTION_ROLE = "ecm_retention"

AUTH = """
alter table app_user
    add column token_generation integer not null default 0,
    add column password_changed_at timestamptz,
    add column reset_code_sha256 text check (reset_code_sha256 ~ '^[0-9a-f]{64}$'),
    add column reset_expires_at timestamptz,
    add check ((reset_code_sha256 is null) = (reset_expires_at is null));
create index login_attempt_pair_idx on login_attempt (lower(username), client_addr, at);
"""

AUDIT = """
create table audit_checkpoint (
    id bigint generated always as identity primary key,
    at timestamptz not null,
    kind text not null check (kind in ('head', 'purge')),
    entries bigint not null check (entries >= 0),
    head_hash text not null check (head_hash ~ '^[0-9a-f]{64}$'),
    key_id text not null,
    signature text not null
);
create trigger audit_checkpoint_append_only
    before update or delete on audit_checkpoint
    for each row execute function audit_log_refuse_change();
create trigger audit_checkpoint_no_truncate
    before truncate on audit_checkpoint
    for each statement execute function audit_log_refuse_change();
"""

RETENTION_TABLES = """
create table retention_policy (
    council_id text primary key references council(id),
    care_records_years integer not null check (care_records_years between 1 and 100),
    registry_personal_data_years integer not null
        check (registry_personal_data_years between 0 and 100),
    quarantine_raw_days integer not null check (quarantine_raw_days between 1 and 36500),
    audit_years integer not null check (audit_years between 1 and 100),
    login_attempt_days integer not null check (login_attempt_days between 1 and 36500),
    updated_by text not null,
    updated_at timestamptz not null default now()
);
create table retention_purge (
    id bigint generated always as identity primary key,
    run_id uuid not null,
    at timestamptz not null,
    kind text not null,
    target text not null,
    rows bigint not null,
    detail jsonb not null
);
create index retention_purge_run_idx on retention_purge(run_id);
create table erasure_request (
    id bigint generated always as identity primary key,
    service_user_id text not null,
    requested_by text not null,
    requested_at timestamptz not null,
    report jsonb not null
);
alter table quarantined_message
    add column payload_sha256 text,
    add column payload_purged_at timestamptz;
alter table service_user add column pseudonymised_at timestamptz,
    add column records_purged_at timestamptz;
alter table carer add column pseudonymised_at timestamptz;
"""

# The append-only triggers let exactly one role delete: the retention role, acting on a policy.
EVIDENCE_TRIGGER = f"""
create or replace function ecm_forbid_evidence_change() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and current_user = '{RETENTION_ROLE}' then
        return old;
    end if;
    raise exception 'device events are evidence and cannot be changed (% on %)',
        tg_op, tg_table_name using errcode = 'insufficient_privilege';
end $$;
create or replace function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' and tg_table_name = 'audit_log' and current_user = '{RETENTION_ROLE}' then
        return old;
    end if;
    raise exception '% is append-only: % refused', tg_table_name, tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
"""

EVIDENCE_TRIGGER_BEFORE = """
create or replace function ecm_forbid_evidence_change() returns trigger language plpgsql as $$
begin
    raise exception 'device events are evidence and cannot be changed (% on %)',
        tg_op, tg_table_name using errcode = 'insufficient_privilege';
end $$;
create or replace function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
"""

RETENTION_ROLE_SQL = f"""
do $$
begin
    if not exists (select from pg_roles where rolname = '{RETENTION_ROLE}') then
        create role {RETENTION_ROLE} nologin;
    end if;
end
$$;
grant {RETENTION_ROLE} to current_user;
grant usage on schema public to {RETENTION_ROLE};
grant select on all tables in schema public to {RETENTION_ROLE};
alter default privileges in schema public grant select on tables to {RETENTION_ROLE};
grant delete on audit_log, device_sequence, tag_tap, login_attempt, quarantined_message,
    visit, visit_carer, visit_anomaly, visit_correction, visit_alert, alert_notification,
    webhook_delivery, webhook_attempt, planned_visit_version, reconciliation_run_evidence,
    reconciliation_run_unbilled, telephony_call, telephony_event, telephony_request,
    telephony_pin_attempt, service_request, service_offer, service_request_event, care_package,
    care_package_version, request_notification, request_webhook_delivery,
    request_webhook_attempt, alert_action, manual_visit to {RETENTION_ROLE};
grant update on quarantined_message, service_user, carer, home_tag, home_code_device,
    reconciliation_invoice to {RETENTION_ROLE};
grant insert on audit_log, audit_checkpoint, retention_purge, erasure_request to {RETENTION_ROLE};
revoke update, delete, truncate on audit_checkpoint from {API_ROLE};
-- What retention and erasure did is a record too: the API may add to it, never rewrite it.
revoke update, delete, truncate on retention_purge, erasure_request from {API_ROLE};
"""

# Dropping a slice of the event store: only through this function, which only the retention role
# may call. It refuses a partition holding any event younger than the cut-off it is given; the
# caller (retention.service) has already checked that every event in it is past its policy.
DROP_FUNCTION = f"""
create function ecm_retention_drop_event_partition(part regclass, cutoff timestamptz)
returns bigint language plpgsql security definer set search_path = public, pg_temp as $$
declare
    parent regclass;
    newest timestamptz;
    dropped bigint;
begin
    select inhparent into parent from pg_inherits where inhrelid = part;
    if parent is distinct from 'device_event'::regclass then
        raise exception '% is not a partition of device_event', part;
    end if;
    execute format('select max(device_time), count(*) from %s', part) into newest, dropped;
    if newest is not null and newest >= cutoff then
        raise exception '% holds events from % on, after the cut-off %', part, newest, cutoff;
    end if;
    perform set_config('ecm.retention_drop', 'on', true);
    execute format('alter table device_event detach partition %s', part);
    execute format('drop table %s', part);
    perform set_config('ecm.retention_drop', 'off', true);
    return dropped;
end $$;
revoke all on function ecm_retention_drop_event_partition(regclass, timestamptz) from public;
grant execute on function ecm_retention_drop_event_partition(regclass, timestamptz)
    to {RETENTION_ROLE};
"""

# TimescaleDB: the hypertable's chunks are dropped with drop_chunks, by the same rule.
DROP_CHUNKS_FUNCTION = f"""
create function ecm_retention_drop_event_chunks(older_than timestamptz) returns bigint
language plpgsql security definer set search_path = public, pg_temp as $$
declare
    dropped bigint;
begin
    select count(*) into dropped from device_event where device_time < older_than;
    perform set_config('ecm.retention_drop', 'on', true);
    perform drop_chunks('device_event', older_than => older_than);
    perform set_config('ecm.retention_drop', 'off', true);
    return dropped;
end $$;
revoke all on function ecm_retention_drop_event_chunks(timestamptz) from public;
grant execute on function ecm_retention_drop_event_chunks(timestamptz) to {RETENTION_ROLE};
"""

# Anything else that drops a piece of the event store (a hand-typed DROP TABLE of a partition,
# the whole table) is refused, whoever runs it. Needs a superuser to create.
GUARD = """
create function ecm_guard_event_store_drop() returns event_trigger language plpgsql as $$
declare
    dropped record;
begin
    if current_setting('ecm.retention_drop', true) = 'on' then
        return;
    end if;
    for dropped in select * from pg_event_trigger_dropped_objects() loop
        if dropped.object_type = 'table' and (
            dropped.object_name = 'device_event'
            or dropped.object_name like 'device\\_event\\_%'
            or (dropped.schema_name = '_timescaledb_internal'
                and dropped.object_name like '\\_hyper\\_%')
        ) then
            raise exception 'the event store is evidence: % may be dropped only by retention',
                dropped.object_identity using errcode = 'insufficient_privilege';
        end if;
    end loop;
end $$;
create event trigger ecm_guard_event_store_drop on sql_drop
    execute function ecm_guard_event_store_drop();
"""

CERTIFICATES = """
alter table device_certificate add column retires_at timestamptz;
drop index device_certificate_one_live_idx;
-- One current certificate per device; during a rotation the previous one stays live (not
-- revoked) until retires_at, so the handset can move over without losing its connection.
create unique index device_certificate_one_live_idx
    on device_certificate(device_id) where revoked_at is null and retires_at is null;
create index device_certificate_expiry_idx on device_certificate(not_after)
    where revoked_at is null;
"""


def _is_superuser() -> bool:
    found = op.get_bind().exec_driver_sql(
        "select rolsuper from pg_roles where rolname = current_user"
    )
    return bool(found.scalar())


def _is_hypertable() -> bool:
    row = (
        op.get_bind()
        .exec_driver_sql("select 1 from pg_extension where extname = 'timescaledb'")
        .first()
    )
    return row is not None


def upgrade() -> None:
    op.execute(AUTH)
    op.execute(AUDIT)
    op.execute(RETENTION_TABLES)
    op.execute(EVIDENCE_TRIGGER)
    op.execute(RETENTION_ROLE_SQL)
    op.execute(DROP_CHUNKS_FUNCTION if _is_hypertable() else DROP_FUNCTION)
    if _is_superuser():
        op.execute(GUARD)
    op.execute(CERTIFICATES)


def downgrade() -> None:
    op.execute(
        """
        drop index device_certificate_expiry_idx;
        drop index device_certificate_one_live_idx;
        create unique index device_certificate_one_live_idx
            on device_certificate(device_id) where revoked_at is null;
        alter table device_certificate drop column retires_at;
        drop event trigger if exists ecm_guard_event_store_drop;
        drop function if exists ecm_guard_event_store_drop();
        drop function if exists ecm_retention_drop_event_partition(regclass, timestamptz);
        drop function if exists ecm_retention_drop_event_chunks(timestamptz);
        """
    )
    op.execute(EVIDENCE_TRIGGER_BEFORE)
    op.execute(
        f"""
        alter default privileges in schema public revoke select on tables from {RETENTION_ROLE};
        revoke all on all tables in schema public from {RETENTION_ROLE};
        revoke usage on schema public from {RETENTION_ROLE};
        alter table carer drop column pseudonymised_at;
        alter table service_user drop column pseudonymised_at, drop column records_purged_at;
        alter table quarantined_message drop column payload_sha256,
            drop column payload_purged_at;
        drop table erasure_request, retention_purge, retention_policy, audit_checkpoint;
        drop index login_attempt_pair_idx;
        alter table app_user drop column token_generation, drop column password_changed_at,
            drop column reset_code_sha256, drop column reset_expires_at;
        """
    )
    op.execute(
        f"""
        do $$
        begin
            drop role {RETENTION_ROLE};
        exception when dependent_objects_still_exist then
            raise notice 'role {RETENTION_ROLE} kept: other databases still grant it privileges';
        end
        $$;
        """
    )
