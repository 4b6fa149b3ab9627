"""OpenAPI examples for commissioning (merged into api.examples): one request of council LA1 in
lot "north", declined by its lead provider P001 and accepted by the additional provider P002,
so every example tells the same story."""

from __future__ import annotations

from typing import Any

_MORNING = {
    "days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "start": "07:30",
    "minutes": 45,
    "carers": 2,
    "service_type": "personal care",
}
_TEA = {
    "days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
    "start": "17:00",
    "minutes": 30,
    "carers": 1,
    "service_type": "meal",
}
_LINEUP = {
    "effective_from": "2026-01-05",
    "lead": "P001",
    "additional": ["P002", "P003"],
    "dps": ["P004", "P005"],
}
_LOT = {
    "council_id": "LA1",
    "id": "north",
    "name": "North",
    "in_force": _LINEUP,
    "lineups": [_LINEUP],
}
_POLICY = {
    "response_working_hours": 24,
    "additional_mode": "one_at_a_time",
    "dps_mode": "all_at_once",
}
_DECLINED = {
    "id": 31,
    "request_id": 12,
    "provider_id": "P001",
    "role": "lead",
    "round": 0,
    "stage": 0,
    "offered_at": "2026-11-20T10:00:00Z",
    "deadline": "2026-11-23T10:00:00Z",
    "status": "declined",
    "decided_at": "2026-11-20T11:05:00Z",
    "decided_by": "ann.manager",
    "decline_reason": "no_capacity",
    "decline_note": None,
    "first_viewed_at": "2026-11-20T10:40:00Z",
    "views": 1,
}
_ACCEPTED = {
    **_DECLINED,
    "id": 32,
    "provider_id": "P002",
    "role": "additional",
    "stage": 1,
    "offered_at": "2026-11-20T11:05:00Z",
    "deadline": "2026-11-23T11:05:00Z",
    "status": "accepted",
    "decided_at": "2026-11-20T14:30:00Z",
    "decided_by": "bob.manager",
    "decline_reason": None,
    "first_viewed_at": "2026-11-20T14:10:00Z",
}
_REQUEST = {
    "id": 12,
    "council_id": "LA1",
    "request_ref": "MOSAIC-88412",
    "service_user_id": "SU0042",
    "lot_id": "north",
    "start_date": "2026-11-23",
    "end_date": None,
    "visits": [_MORNING, _TEA],
    "weekly_hours": 13.0,
    "notes": "Key safe by the back door; hoist in the bedroom.",
    "status": "placed",
    "source": "import 4",
    "created_by": "ann.officer",
    "created_at": "2026-11-20T10:00:00Z",
    "placed_at": "2026-11-20T14:30:00Z",
    "placed_with": "P002",
    "placed_role": "additional",
    "closed_at": None,
    "close_reason": None,
    "package_id": 7,
    "cascade": [
        {"role": "lead", "providers": ["P001"], "state": "done"},
        {"role": "additional", "providers": ["P002"], "state": "done"},
        {"role": "additional", "providers": ["P003"], "state": "to_come"},
        {"role": "dps", "providers": ["P004", "P005"], "state": "to_come"},
    ],
    "offers": [_DECLINED, _ACCEPTED],
    "history": [
        {
            "at": "2026-11-20T10:00:00Z",
            "kind": "created",
            "actor": "ann.officer",
            "provider_id": None,
            "offer_id": None,
            "detail": {"source": "import 4"},
        },
        {
            "at": "2026-11-20T11:05:00Z",
            "kind": "declined",
            "actor": "ann.manager",
            "provider_id": "P001",
            "offer_id": 31,
            "detail": {"reason": "no_capacity"},
        },
        {
            "at": "2026-11-20T14:30:00Z",
            "kind": "accepted",
            "actor": "bob.manager",
            "provider_id": "P002",
            "offer_id": 32,
            "detail": {"role": "additional"},
        },
    ],
}
_PROVIDER_OFFER = {
    "offer": _ACCEPTED,
    "request_ref": "MOSAIC-88412",
    "council_id": "LA1",
    "lot_id": "north",
    "service_user_id": "SU0042",
    "start_date": "2026-11-23",
    "end_date": None,
    "visits": [_MORNING, _TEA],
    "weekly_hours": 13.0,
    "notes": "Key safe by the back door; hoist in the bedroom.",
    "package_id": 7,
}
_PACKAGE = {
    "id": 7,
    "request_id": 12,
    "request_ref": "MOSAIC-88412",
    "council_id": "LA1",
    "provider_id": "P002",
    "service_user_id": "SU0042",
    "lot_id": "north",
    "role": "additional",
    "planned_until": "2026-12-18",
    "versions": [
        {
            "version": 1,
            "change": "accepted",
            "effective_from": "2026-11-23",
            "start_date": "2026-11-23",
            "end_date": None,
            "visits": [_MORNING, _TEA],
            "weekly_hours": 13.0,
            "made_by": "bob.manager",
            "made_at": "2026-11-20T14:30:00Z",
            "current": True,
        }
    ],
}
_MONITORING_LOT = {
    "lot_id": "north",
    "requests_made": 18,
    "offered_to_lead": 18,
    "lead_accepted_in_time": 12,
    "lead_in_time_share": 0.6667,
    "placed": 17,
    "median_hours_to_accept": 5.5,
    "unplaced_after_n_days": 1,
    "weekly_hours_lead": 141.5,
    "weekly_hours_additional": 52.0,
    "weekly_hours_dps": 10.5,
    "declines": {"no_capacity": 4, "no_carers_in_area": 1, "other": 1},
}

EXAMPLES: dict[str, Any] = {
    "CouncilLot": _LOT,
    "CouncilLotList": {"items": [_LOT]},
    "LotLineup": {"name": "North", **{k: v for k, v in _LINEUP.items()}},
    "LotSet": {"lot": _LOT, "changed": True},
    "CommissioningPolicy": _POLICY,
    "RequestDraft": {
        "request_ref": "MOSAIC-88412",
        "service_user_id": "SU0042",
        "lot_id": "north",
        "start_date": "2026-11-23",
        "visits": [_MORNING, _TEA],
        "notes": "Key safe by the back door; hoist in the bedroom.",
    },
    "ServiceRequest": _REQUEST,
    "RequestList": {
        "items": [
            {
                "id": 12,
                "council_id": "LA1",
                "request_ref": "MOSAIC-88412",
                "service_user_id": "SU0042",
                "lot_id": "north",
                "start_date": "2026-11-23",
                "weekly_hours": 13.0,
                "status": "open",
                "created_at": "2026-11-20T10:00:00Z",
                "placed_with": None,
                "open_offers": ["P002"],
                "next_deadline": "2026-11-23T11:05:00Z",
            }
        ],
        "next_offset": None,
    },
    "Withdrawal": {"reason": "Moved to residential care."},
    "Reoffer": {"provider_id": None},
    "Decline": {"reason": "no_capacity", "note": ""},
    "ProviderOffer": _PROVIDER_OFFER,
    "ProviderOfferList": {"items": [_PROVIDER_OFFER], "next_offset": None},
    "Package": _PACKAGE,
    "PackageList": {"items": [_PACKAGE], "next_offset": None},
    "PackageChangeRequest": {"effective_from": "2026-12-07", "visits": [_MORNING]},
    "PackageEnd": {"end_date": "2027-01-31"},
    "RequestImport": {
        "import_id": 4,
        "rows_read": 3,
        "requests_created": 1,
        "requests_unchanged": 0,
        "rejected": 1,
        "errors": [
            {
                "line": 4,
                "request_ref": "MOSAIC-88413",
                "reason": "council LA1 has no service user SU9999",
            }
        ],
    },
    "MonitoringReport": {
        "council_id": "LA1",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "unplaced_after_days": 7,
        "lots": [_MONITORING_LOT, {**_MONITORING_LOT, "lot_id": None}],
    },
    "RequestDeliveryList": {
        "items": [
            {
                "id": 5,
                "notification_id": 9,
                "event": "request.offered",
                "request_id": 12,
                "offer_id": 32,
                "endpoint_id": 2,
                "status": "delivered",
                "attempts": 1,
                "next_attempt_at": "2026-11-20T11:05:00Z",
                "delivered_at": "2026-11-20T11:05:00Z",
            }
        ]
    },
}

_REQUESTS_HEADER = (
    "request_ref,service_user_ref,lot_ref,start_date,end_date,days,start_time,minutes,carers,"
    "service_type,notes\n"
)
TEXT_EXAMPLES: dict[tuple[str, str, str], str] = {
    ("post", "/service-requests/import", "request"): _REQUESTS_HEADER
    + (
        "MOSAIC-88412,SU0042,north,2026-11-23,,daily,07:30,45,2,personal care,"
        "Key safe by the back door\n"
        "MOSAIC-88412,SU0042,north,2026-11-23,,Mon-Fri,17:00,30,1,meal,\n"
    ),
    ("get", "/service-requests/decisions.csv", "200"): (
        "request_ref,lot_ref,service_user_ref,offer_id,provider_ref,role,round,stage,offered_at,"
        "deadline,outcome,decided_at,decided_by,decline_reason,decline_note\n"
        "MOSAIC-88412,north,SU0042,31,P001,lead,0,0,2026-11-20T10:00:00+00:00,"
        "2026-11-23T10:00:00+00:00,declined,2026-11-20T11:05:00+00:00,ann.manager,no_capacity,\n"
    ),
    ("get", "/packages.csv", "200"): (
        "package_id,version,change,effective_from,made_at,current,request_ref,provider_ref,role,"
        "service_user_ref,lot_ref,start_date,end_date,days,start_time,minutes,carers,"
        "service_type\n"
        "7,1,accepted,2026-11-23,2026-11-20T14:30:00+00:00,true,MOSAIC-88412,P002,additional,"
        "SU0042,north,2026-11-23,,Mon Tue Wed Thu Fri Sat Sun,07:30,45,2,personal care\n"
    ),
    ("get", "/commissioning/monitoring.csv", "200"): (
        "council_ref,lot_ref,from,to,requests_made,offered_to_lead,lead_accepted_in_time,"
        "lead_in_time_share,placed,median_hours_to_accept,n_days,unplaced_after_n_days,"
        "weekly_hours_lead,weekly_hours_additional,weekly_hours_dps,declined_no_capacity,"
        "declined_no_carers_in_area,declined_visit_times_not_possible,"
        "declined_start_date_not_possible,declined_double_handed_not_possible,"
        "declined_skills_not_available,declined_risk_to_staff,declined_other\n"
        "LA1,north,2026-11-01,2026-11-30,18,18,12,0.6667,17,5.50,7,1,141.50,52.00,10.50,"
        "4,1,0,0,0,0,0,1\n"
    ),
}
