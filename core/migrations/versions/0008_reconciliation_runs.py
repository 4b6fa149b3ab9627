"""Reconciliation as a service: councils' contracts (versioned), uploaded invoices, and
reconciliation runs with their per-line outcomes, the evidence each line used, and the verified
visits nobody invoiced.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
create table reconciliation_contract (
    council_id text not null references council(id),
    version integer not null check (version >= 1),
    content text not null,
    sha256 text not null,
    uploaded_by text not null,
    uploaded_at timestamptz not null default now(),
    primary key (council_id, version)
);
create table reconciliation_invoice (
    id bigint generated always as identity primary key,
    council_id text not null references council(id),
    name text not null,
    content text not null,
    sha256 text not null,
    lines integer not null,
    problems jsonb not null,
    uploaded_by text not null,
    uploaded_at timestamptz not null default now()
);
create index reconciliation_invoice_council_idx on reconciliation_invoice(council_id, id);
create table reconciliation_run (
    id bigint generated always as identity primary key,
    council_id text not null references council(id),
    contract_version integer not null,
    contract_sha256 text not null,
    engine_version text not null,
    period_start date,
    period_end date,
    schedule_sha256 text not null,
    actuals_sha256 text not null,
    invoices jsonb not null,
    problems jsonb not null,
    summary jsonb not null,
    run_by text not null,
    run_at timestamptz not null default now(),
    paid_by text,
    paid_at timestamptz,
    foreign key (council_id, contract_version)
        references reconciliation_contract(council_id, version)
);
create index reconciliation_run_council_idx on reconciliation_run(council_id, id);
create table reconciliation_run_line (
    run_id bigint not null references reconciliation_run(id) on delete cascade,
    position integer not null,
    invoice_id bigint not null references reconciliation_invoice(id),
    invoice_ref text not null,
    line_no integer not null,
    provider_ref text not null,
    service_user_ref text not null,
    visit_date date not null,
    start_time time not null,
    end_time time not null,
    minutes_claimed integer not null,
    carers integer not null,
    amount_claimed numeric(12, 2) not null,
    outcome text not null check (outcome in ('approved', 'adjusted', 'held', 'rejected')),
    reason_code text,
    payable_minutes integer not null,
    payable_amount numeric(12, 2) not null,
    matched_visit text not null,
    carers_verified integer not null,
    actual_minutes integer not null,
    uncommissioned boolean not null,
    primary key (run_id, position)
);
-- One row per carer's stay a line used: the engine's duplicate key (provider, service user,
-- carer, check-in) and the visit, stay and events it rests on, as they were when the run ran.
create table reconciliation_run_evidence (
    run_id bigint not null,
    position integer not null,
    provider_ref text not null,
    service_user_ref text not null,
    carer_ref text not null,
    check_in timestamptz not null,
    check_out timestamptz not null,
    verification text not null,
    visit_id uuid not null,
    segment_id uuid not null,
    check_in_event_id uuid,
    check_out_event_id uuid,
    foreign key (run_id, position) references reconciliation_run_line(run_id, position)
        on delete cascade
);
create index reconciliation_run_evidence_line_idx on reconciliation_run_evidence(run_id, position);
create table reconciliation_run_unbilled (
    run_id bigint not null references reconciliation_run(id) on delete cascade,
    position integer not null,
    provider_ref text not null,
    service_user_ref text not null,
    carer_ref text not null,
    check_in timestamptz not null,
    check_out timestamptz not null,
    verification text not null,
    visit_id uuid not null,
    primary key (run_id, position)
);
"""

DOWNGRADE = """
drop table reconciliation_run_unbilled;
drop table reconciliation_run_evidence;
drop table reconciliation_run_line;
drop table reconciliation_run;
drop table reconciliation_invoice;
drop table reconciliation_contract;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
