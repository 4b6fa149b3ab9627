"""Telephone check-in from the home's landline, and providers' pay settings.

- `service_user.landline`: the home's landline (E.164), which identifies the home when a carer
  calls from it; `carer.carer_number`: the digits a carer keys to say who they are.
- `device.kind`: `handset` or `telephony` (the gateway's telephony bridge, one per provider).
- `telephony_number`: the numbers carers call, each answering for one provider.
- `carer_pin`: carers' PINs, argon2id hashes of a keyed HMAC of the PIN (never the PIN).
- `telephony_device`: the bridge's Ed25519 signing key per provider, sealed under the master key,
  and the next `seq` of that device.
- `telephony_call`, `telephony_request`, `telephony_pin_attempt`, `telephony_event`: each call and
  what became of it, each provider request answered (for retries and replays), the PIN attempts
  the throttle counts, and the signed events with their publication state (the bridge's outbox).
- `landline` joins the evidence levels of `device_event` and the verification levels of visits.
- `provider_pay_rate`: a provider's declared hourly pay and whether travel is paid, dated.

Revision ID: 0009_telephony
Revises: 0008
Create Date: 2026-11-23
"""

from alembic import op

revision = "0009_telephony"
down_revision = "0008"
branch_labels = None
depends_on = None

E164 = r"'^\+[1-9][0-9]{6,14}$'"

REGISTRY = f"""
alter table device add column kind text not null default 'handset'
    check (kind in ('handset', 'telephony'));
alter table service_user add column landline text unique check (landline ~ {E164});
alter table carer add column carer_number text unique check (carer_number ~ '^[0-9]{{3,10}}$');
"""

LEVELS = """
alter table device_event drop constraint device_event_evidence_level_check;
alter table device_event add constraint device_event_evidence_level_check
    check (evidence_level in ('tag', 'code', 'landline', 'location', 'none'));
alter table visit drop constraint visit_verification_check;
alter table visit add constraint visit_verification_check
    check (verification in ('tag', 'code', 'landline', 'location', 'manual', 'none'));
"""

TELEPHONY = f"""
create table telephony_number (
    number text primary key check (number ~ {E164}),
    provider_id text not null references provider(id),
    created_at timestamptz not null default now()
);
create index telephony_number_provider_idx on telephony_number(provider_id);

create table carer_pin (
    carer_id text primary key references carer(id),
    pin_hash text not null,
    set_at timestamptz not null default now(),
    set_by text not null
);

create table telephony_device (
    device_id text primary key references device(id),
    provider_id text not null unique references provider(id),
    key_wrapped_key bytea not null,
    key_ciphertext bytea not null,
    kek_id text not null,
    next_seq bigint not null default 0 check (next_seq >= 0),
    created_at timestamptz not null default now()
);

create table telephony_call (
    call_sid text primary key,
    first_seen_at timestamptz not null,
    caller text not null,
    called text not null,
    provider_id text,
    service_user_id text,
    stage text not null check (stage in ('carer', 'pin', 'done')),
    carer_number text,
    carer_id text,
    attempts integer not null default 0,
    outcome text check (outcome in ('check_in', 'check_out', 'refused')),
    refusal text,
    event_id uuid,
    finished_at timestamptz
);
create index telephony_call_carer_idx on telephony_call(carer_id, first_seen_at);
create index telephony_call_home_idx on telephony_call(service_user_id, first_seen_at);

create table telephony_request (
    call_sid text not null references telephony_call(call_sid),
    fingerprint text not null,
    step text not null,
    received_at timestamptz not null,
    answer text not null,
    primary key (call_sid, fingerprint)
);

create table telephony_pin_attempt (
    id bigint generated always as identity primary key,
    at timestamptz not null,
    call_sid text not null references telephony_call(call_sid),
    caller text not null,
    carer_id text,
    succeeded boolean not null
);
create index telephony_pin_attempt_carer_idx on telephony_pin_attempt(carer_id, at);
create index telephony_pin_attempt_caller_idx on telephony_pin_attempt(caller, at);

create table telephony_event (
    event_id uuid primary key,
    call_sid text not null references telephony_call(call_sid),
    device_id text not null references device(id),
    seq bigint not null,
    event_type text not null check (event_type in ('check_in', 'check_out')),
    device_time timestamptz not null,
    carer_id text not null,
    service_user_id text not null,
    jws text not null,
    -- Why ingest will refuse it, when the bridge knows (a carer of another provider); such an
    -- event is published for the record and counts for nothing.
    refusal text,
    created_at timestamptz not null default clock_timestamp(),
    -- A publisher claims a pending event for a while (a lease), so two bridge processes rarely
    -- publish the same one; if they do, ingest stores it once.
    claimed_until timestamptz,
    published_at timestamptz,
    unique (device_id, seq)
);
create index telephony_event_pending_idx on telephony_event(created_at)
    where published_at is null;
create index telephony_event_carer_idx on telephony_event(carer_id, service_user_id, device_time);
"""

PAY = """
create table provider_pay_rate (
    provider_id text not null references provider(id),
    effective_from date not null,
    hourly_rate_pence integer not null check (hourly_rate_pence > 0),
    travel_paid boolean not null,
    set_by text not null,
    set_at timestamptz not null default now(),
    primary key (provider_id, effective_from)
);
"""


def upgrade() -> None:
    for block in (REGISTRY, LEVELS, TELEPHONY, PAY):
        op.execute(block)


def downgrade() -> None:
    op.execute(
        "drop table provider_pay_rate, telephony_event, telephony_pin_attempt, "
        "telephony_request, telephony_call, telephony_device, carer_pin, telephony_number"
    )
    op.execute(
        """
        alter table visit drop constraint visit_verification_check;
        alter table visit add constraint visit_verification_check
            check (verification in ('tag', 'code', 'location', 'manual', 'none'));
        alter table device_event drop constraint device_event_evidence_level_check;
        alter table device_event add constraint device_event_evidence_level_check
            check (evidence_level in ('tag', 'code', 'location', 'none'));
        """
    )
    op.execute(
        "alter table carer drop column carer_number; "
        "alter table service_user drop column landline; "
        "alter table device drop column kind"
    )
