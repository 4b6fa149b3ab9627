"""People who sign in, their login attempts, the audit trail, and the API's own database role.

`app_user` holds accounts (argon2id hashes, never passwords) with one role and its tenant.
`login_attempt` backs the sign-in rate limit, so the limit holds across API processes.
`audit_log` is append-only and hash-chained (api.audit writes and verifies it): the API's role
may only INSERT and SELECT it, and a trigger refuses UPDATE, DELETE and TRUNCATE for everyone.

The API connects as `ecm_api`, a role that owns nothing: it is granted what it needs on today's
tables and, through default privileges, on tables later migrations create. Its password, when the
database wants one (docker-compose), comes from ECM_API_DATABASE_PASSWORD at migration time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import os

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

API_ROLE = "ecm_api"

TABLES = """
create table app_user (
    id bigint generated always as identity primary key,
    username text not null check (username ~ '^[A-Za-z0-9_.@-]{1,128}$'),
    password_hash text not null,
    role text not null check (role in ('administrator', 'council_officer', 'provider_manager')),
    council_id text references council(id),
    provider_id text references provider(id),
    active boolean not null default true,
    created_at timestamptz not null default now(),
    disabled_at timestamptz,
    -- The tenant is exactly the one the role names: nothing else can widen what a user sees.
    check (
        (role = 'administrator' and council_id is null and provider_id is null)
        or (role = 'council_officer' and council_id is not null and provider_id is null)
        or (role = 'provider_manager' and provider_id is not null and council_id is null)
    )
);
create unique index app_user_username_idx on app_user (lower(username));

create table login_attempt (
    id bigint generated always as identity primary key,
    at timestamptz not null default now(),
    username text not null,
    client_addr text not null,
    succeeded boolean not null
);
create index login_attempt_username_idx on login_attempt (lower(username), at);
create index login_attempt_client_idx on login_attempt (client_addr, at);

create table audit_log (
    id bigint primary key,
    at timestamptz not null,
    actor text not null,
    role text not null,
    tenant text,
    action text not null check (action in ('read', 'change')),
    method text not null,
    path text not null,
    query text not null,
    client_addr text,
    request_id text not null,
    prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
    hash text not null check (hash ~ '^[0-9a-f]{64}$')
);

create function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_log_append_only
    before update or delete on audit_log
    for each row execute function audit_log_refuse_change();
create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_log_refuse_change();
"""

ROLE = f"""
do $$
begin
    if not exists (select from pg_roles where rolname = '{API_ROLE}') then
        create role {API_ROLE} login;
    end if;
end
$$;
grant usage on schema public to {API_ROLE};
grant select, insert, update, delete on all tables in schema public to {API_ROLE};
grant usage, select on all sequences in schema public to {API_ROLE};
alter default privileges in schema public
    grant select, insert, update, delete on tables to {API_ROLE};
alter default privileges in schema public grant usage, select on sequences to {API_ROLE};
-- Evidence and the audit trail are append-only for the API.
revoke update, delete, truncate on audit_log from {API_ROLE};
revoke update, delete, truncate on device_event from {API_ROLE};
revoke all on alembic_version from {API_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(ROLE)
    password = os.environ.get("ECM_API_DATABASE_PASSWORD")
    if password:
        quoted = password.replace("'", "''")
        op.execute(f"alter role {API_ROLE} password '{quoted}'")


def downgrade() -> None:
    op.execute(
        f"""
        alter default privileges in schema public
            revoke select, insert, update, delete on tables from {API_ROLE};
        alter default privileges in schema public revoke usage, select on sequences from {API_ROLE};
        drop table audit_log, login_attempt, app_user;
        drop function audit_log_refuse_change();
        revoke all on all tables in schema public from {API_ROLE};
        revoke all on all sequences in schema public from {API_ROLE};
        revoke usage on schema public from {API_ROLE};
        """
    )
    # Roles belong to the cluster: another database there may still grant this one something.
    op.execute(
        f"""
        do $$
        begin
            drop role {API_ROLE};
        exception when dependent_objects_still_exist then
            raise notice 'role {API_ROLE} kept: other databases still grant it privileges';
        end
        $$;
        """
    )
