"""All visit SQL: visits are derived from device_event on read, never stored.

Pairing runs per (carer_id, service_user_id) over that pair's events ordered by
(device_time, seq, event_id): a check_in followed by a check_out is one complete visit; a
check_in followed by another check_in, or by nothing, is open; a check_out not preceded by a
check_in is open with no check-in. A visit is dated by its check-in (its check-out when it has
none), and the date filter applies only after pairing, so a visit across midnight belongs to
the day it started.

With a date, pairing does not read the pair's whole history: the events of that day form one
contiguous run in each pair's order, and pairing any of them needs only its neighbours, so the
day's events plus each pair's last event before the day and first event after it give exactly
the pairing a full scan would.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from api.events.repository import scope_condition
from api.events.schemas import EventScope
from api.visits.schemas import Visit, VisitSummary

_SCOPED = """
scoped as not materialized (
    select event_id, device_id, carer_id, service_user_id, seq, event_type, device_time, tag_uid
    from device_event
    where {condition}
)"""

_ALL_EVENTS = """
candidates as not materialized (select * from scoped)"""

_DAY_AND_NEIGHBOURS = """
in_window as (
    select * from scoped where device_time >= :start and device_time < :end
),
pairs as (
    select distinct carer_id, service_user_id from in_window
),
candidates as (
    select * from in_window
    union all
    select previous_event.* from pairs cross join lateral (
        select * from scoped s
        where s.carer_id = pairs.carer_id
          and s.service_user_id is not distinct from pairs.service_user_id
          and s.device_time < :start
        order by s.device_time desc, s.seq desc, s.event_id desc
        limit 1
    ) previous_event
    union all
    select next_event.* from pairs cross join lateral (
        select * from scoped s
        where s.carer_id = pairs.carer_id
          and s.service_user_id is not distinct from pairs.service_user_id
          and s.device_time >= :end
        order by s.device_time, s.seq, s.event_id
        limit 1
    ) next_event
)"""

_VISITS = """
paired as (
    select c.*,
        lag(c.event_type) over pair_order as prev_type,
        lead(c.event_type) over pair_order as next_type,
        lead(c.event_id) over pair_order as next_event_id,
        lead(c.device_time) over pair_order as next_time
    from candidates c
    window pair_order as (
        partition by c.carer_id, c.service_user_id
        order by c.device_time, c.seq, c.event_id
    )
),
visits as (
    select
        carer_id, service_user_id, device_id,
        device_time as anchor_time,
        event_id as anchor_event_id,
        case when event_type = 'check_in' then device_time end as check_in,
        case when event_type = 'check_in' then event_id end as check_in_event_id,
        case when event_type = 'check_in' then tag_uid end as check_in_tag_uid,
        case
            when event_type = 'check_out' then device_time
            when next_type = 'check_out' then next_time
        end as check_out,
        case
            when event_type = 'check_out' then event_id
            when next_type = 'check_out' then next_event_id
        end as check_out_event_id
    from paired
    -- One row per visit: a check_out right after a check_in is carried by the check_in's row.
    where (event_type = 'check_in' or prev_type is distinct from 'check_in')
      {anchor_in_window}
)"""

_LIST = """
select
    v.carer_id, v.service_user_id, v.device_id,
    v.check_in, v.check_out, v.check_in_event_id, v.check_out_event_id,
    case when v.check_in is not null and v.check_out is not null
        then 'complete' else 'open' end as status,
    (extract(epoch from v.check_out - v.check_in) / 60)::float8 as duration_minutes,
    coalesce(v.check_in_tag_uid = su.home_tag_uid, false) as tag_verified
from visits v
left join service_user su on su.id = v.service_user_id
order by v.anchor_time, v.carer_id, v.service_user_id, v.anchor_event_id
limit :limit offset :offset"""

_SUMMARY = """
select
    count(*) filter (where check_in is not null and check_out is not null) as complete,
    count(*) filter (where check_in is null or check_out is null) as "open"
from visits"""


def _with_visits(scope: EventScope) -> tuple[str, dict[str, Any]]:
    condition, params = scope_condition(scope)
    window = scope.window
    ctes = [_SCOPED.format(condition=condition)]
    if window is None:
        ctes.append(_ALL_EVENTS)
        anchor_in_window = ""
    else:
        ctes.append(_DAY_AND_NEIGHBOURS)
        anchor_in_window = "and device_time >= :start and device_time < :end"
        params.update(start=window.start, end=window.end)
    ctes.append(_VISITS.format(anchor_in_window=anchor_in_window))
    return "with " + ",".join(ctes), params


def list_visits(conn: Connection, scope: EventScope, *, limit: int, offset: int) -> list[Visit]:
    ctes, params = _with_visits(scope)
    rows = conn.execute(text(ctes + _LIST), {**params, "limit": limit, "offset": offset}).mappings()
    return [Visit.model_validate(dict(row)) for row in rows]


def summarise_visits(conn: Connection, scope: EventScope) -> VisitSummary:
    ctes, params = _with_visits(scope)
    row = conn.execute(text(ctes + _SUMMARY), params).mappings().one()
    return VisitSummary.model_validate(dict(row))
