"""The portal's working records: a service user's address; what providers do about alerts
(acknowledge, assign, a reason, a note, resolve) and when an alert goes to the council;
manual visit records (a planned visit delivered without evidence, beside the evidence, counted
only once the council approves it); corrections the council rejects; paying a run with a
second officer's approval and voiding a paid run.

Nothing here changes evidence: device_event stays append-only; alert actions, manual visits and
payment decisions are records of their own, each saying who and when.

Revision ID: 0011_portal
Revises: 0010_requests
Create Date: 2026-12-04
"""

from alembic import op

revision = "0011_portal"
down_revision = "0010_requests"
branch_labels = None
depends_on = None

UPGRADE = """
alter table service_user add column address text;

alter table council_policy add column escalate_after_minutes integer
    check (escalate_after_minutes > 0);

alter table visit_alert
    add column acknowledged_by text,
    add column acknowledged_at timestamptz,
    add column assigned_to text,
    add column reason_code text,
    add column note text,
    add column escalated_at timestamptz,
    add column resolved_by text,
    add column resolved_at timestamptz,
    add column resolution text check (resolution in ('not_delivered', 'delivered'));
create index visit_alert_provider_idx on visit_alert(provider_id, raised_at);

-- Every action on an alert, oldest first: the alert's history as the console shows it.
create table alert_action (
    id bigint generated always as identity primary key,
    alert_id bigint not null references visit_alert(id),
    action text not null check (action in (
        'acknowledged', 'assigned', 'reason', 'resolved', 'delivered', 'reopened', 'escalated'
    )),
    actor text not null,
    at timestamptz not null default clock_timestamp(),
    reason_code text,
    note text,
    assigned_to text
);
create index alert_action_alert_idx on alert_action(alert_id, id);

alter table alert_notification drop constraint alert_notification_action_check;
alter table alert_notification add constraint alert_notification_action_check
    check (action in ('raised', 'cleared', 'escalated'));

create table manual_visit (
    id bigint generated always as identity primary key,
    provider_id text not null references provider(id),
    service_user_id text not null references service_user(id),
    visit_ref text not null,
    planned_start timestamptz not null,
    alert_id bigint references visit_alert(id),
    carer_id text not null,
    check_in timestamptz not null,
    check_out timestamptz not null,
    note text not null,
    requested_by text not null,
    requested_at timestamptz not null default clock_timestamp(),
    decision text check (decision in ('approved', 'rejected')),
    decided_by text,
    decided_at timestamptz,
    decision_reason text,
    check (check_out > check_in)
);
-- One live record per planned visit: pending or approved. A rejected one may be followed by
-- another.
create unique index manual_visit_live_idx on manual_visit(visit_ref)
    where decision is null or decision = 'approved';
create index manual_visit_home_idx on manual_visit(service_user_id, planned_start);
create index manual_visit_decided_idx on manual_visit(decided_at);

alter table visit_correction
    add column rejected_by text,
    add column rejected_at timestamptz,
    add column decision_reason text;
create index visit_correction_pending_idx on visit_correction(service_user_id)
    where needs_approval and approved_at is null and rejected_at is null;

create table reconciliation_setting (
    council_id text primary key references council(id),
    second_payment_approval boolean not null default false
);
alter table reconciliation_run
    add column payment_requested_by text,
    add column payment_requested_at timestamptz,
    add column voided_by text,
    add column voided_at timestamptz,
    add column void_reason text,
    add constraint reconciliation_run_void_check
        check (voided_at is null or (paid_at is not null and void_reason is not null));
"""

DOWNGRADE = """
alter table reconciliation_run drop constraint reconciliation_run_void_check,
    drop column payment_requested_by, drop column payment_requested_at,
    drop column voided_by, drop column voided_at, drop column void_reason;
drop table reconciliation_setting;
drop index visit_correction_pending_idx;
alter table visit_correction drop column rejected_by, drop column rejected_at,
    drop column decision_reason;
drop table manual_visit;
delete from webhook_attempt where delivery_id in (select d.id from webhook_delivery d
    join alert_notification n on n.id = d.notification_id where n.action = 'escalated');
delete from webhook_delivery where notification_id in
    (select id from alert_notification where action = 'escalated');
delete from alert_notification where action = 'escalated';
alter table alert_notification drop constraint alert_notification_action_check;
alter table alert_notification add constraint alert_notification_action_check
    check (action in ('raised', 'cleared'));
drop table alert_action;
drop index visit_alert_provider_idx;
alter table visit_alert drop column acknowledged_by, drop column acknowledged_at,
    drop column assigned_to, drop column reason_code, drop column note,
    drop column escalated_at, drop column resolved_by, drop column resolved_at,
    drop column resolution;
alter table council_policy drop column escalate_after_minutes;
alter table service_user drop column address;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
