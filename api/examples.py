"""Examples for the OpenAPI document: one per response and request body schema.

One care morning of one provider (P001, commissioned by council LA1), so the examples agree with
each other: the visit in the visit list is the one its correction, its alert and its
reconciliation line point to. tests/api/test_openapi_examples.py checks every example against
its schema (unknown keys included) and that every operation's JSON body has one.
"""

from __future__ import annotations

from typing import Any

VISIT_ID = "8a2f4c1e-5b7d-4e2a-9c3f-1d6e8b0a2c4f"
SEGMENT_ID = "3c9e1f7a-2b4d-4f6e-8a1c-5e7b9d0f2a4c"
CHECK_IN_EVENT = VISIT_ID
CHECK_OUT_EVENT = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"

_PAGE_END: dict[str, Any] = {"next_offset": None}

_PROVIDER = {"id": "P001", "name": "Broadland Home Care Ltd"}
_CARER = {"id": "C0007", "provider_id": "P001", "name": "Sam Carer", "carer_number": "4107"}
_DEVICE = {
    "id": "D0007",
    "provider_id": "P001",
    "public_key": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    "status": "active",
    "kind": "handset",
}
_SERVICE_USER = {
    "id": "SU0042",
    "name": "Mrs A. Example",
    "home_lat": 52.6309,
    "home_lon": 1.2974,
    "geofence_m": 150,
    "home_tag_uid": "04A1B2C3D4E5F6",
    "council_id": "LA1",
    "landline": "+441603123456",
}

_CARER_STAY = {
    "carer_id": "C0007",
    "device_id": "D0007",
    "check_in": "2026-11-22T08:02:11Z",
    "check_out": "2026-11-22T08:31:40Z",
    "check_in_event_id": CHECK_IN_EVENT,
    "check_out_event_id": CHECK_OUT_EVENT,
    "verification": "tag",
    "correction_id": None,
}

_VISIT = {
    "id": VISIT_ID,
    "provider_id": "P001",
    "service_user_id": "SU0042",
    "london_day": "2026-11-22",
    "planned_visit_ref": "V00017",
    "planned_start": "2026-11-22T08:00:00Z",
    "planned_minutes": 30,
    "carers_required": 1,
    "check_in": "2026-11-22T08:02:11Z",
    "check_out": "2026-11-22T08:31:40Z",
    "minutes": 29,
    "status": "on_time",
    "verification": "tag",
    "corrections_pending": 0,
    "carers": [_CARER_STAY],
    "anomalies": [],
}

_CORRECTION = {
    "id": 12,
    "visit_id": VISIT_ID,
    "segment_id": SEGMENT_ID,
    "carer_id": "C0007",
    "reason_code": "device_failure",
    "note": "Phone battery died; the service user's daughter confirms the carer left at 08:35.",
    "before": {"check_in": "2026-11-22T08:02:11Z", "check_out": "2026-11-22T08:31:40Z"},
    "after": {"check_in": "2026-11-22T08:02:11Z", "check_out": "2026-11-22T08:35:00Z"},
    "minutes_moved": 4,
    "requested_by": "pat.manager",
    "requested_at": "2026-11-22T10:15:00Z",
    "needs_approval": False,
    "approved_by": None,
    "approved_at": None,
    "rejected_by": None,
    "rejected_at": None,
    "decision_reason": None,
    "counts": True,
}

_ALERT = {
    "id": 88,
    "provider_id": "P001",
    "visit_ref": "V00068",
    "kind": "missed",
    "service_user_id": "SU0042",
    "planned_start": "2026-11-22T12:00:00Z",
    "threshold_at": "2026-11-22T13:00:00Z",
    "raised_at": "2026-11-22T13:00:04Z",
    "cleared_at": None,
    "acknowledged_by": "pat.manager",
    "acknowledged_at": "2026-11-22T13:04:10Z",
    "assigned_to": "C0007",
    "reason_code": "hospital",
    "note": "Admitted to hospital last night, says her daughter.",
    "escalated_at": None,
    "escalates_at": "2026-11-22T14:00:04Z",
    "resolved_by": None,
    "resolved_at": None,
    "resolution": None,
    "visit_id": "6b0f4f7e-3c55-5d7a-9a9e-1f2b3c4d5e6f",
}

_MANUAL_VISIT = {
    "id": 5,
    "provider_id": "P001",
    "service_user_id": "SU0042",
    "visit_ref": "V00068",
    "planned_start": "2026-11-22T12:00:00Z",
    "alert_id": 88,
    "carer_id": "C0007",
    "check_in": "2026-11-22T12:04:00Z",
    "check_out": "2026-11-22T12:35:00Z",
    "note": "The handset was lost on the round; the service user's daughter confirms the visit.",
    "requested_by": "pat.manager",
    "requested_at": "2026-11-22T15:10:00Z",
    "decision": None,
    "decided_by": None,
    "decided_at": None,
    "decision_reason": None,
}

_TOTALS = {
    "lines": 3,
    "claimed": "37.80",
    "payable": "12.60",
    "variance": "-25.20",
    "block": "0.00",
    "due": "12.60",
    "outcomes": {"approved": 1, "held": 1, "rejected": 1},
    "unbilled_visits": 0,
    "uncommissioned_lines": 0,
}

_INVOICE = {
    "id": 4,
    "council_id": "LA1",
    "name": "P001-2026-11.csv",
    "sha256": "9f2c7a1e4b6d8f0a3c5e7b9d1f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a",
    "lines": 3,
    "problems": [],
    "uploaded_by": "ann.officer",
    "uploaded_at": "2026-11-29T09:00:00Z",
}

_RUN = {
    "id": 7,
    "council_id": "LA1",
    "contract_version": 1,
    "contract_sha256": "1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d",
    "engine_version": "1",
    "rules_version": "reconciliation.md 2026-10",
    "period_start": "2026-11-01",
    "period_end": "2026-11-30",
    "schedule_sha256": "2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c",
    "actuals_sha256": "3d5f7b9c1e2a4c6e8a0b2d4f6b8d0e1a3c5e7a9c2e4b6d8f0b1d3f5a7c9e2b4d",
    "invoices": [{"id": 4, "name": "P001-2026-11.csv", "sha256": _INVOICE["sha256"]}],
    "problems": [],
    "summary": {"overall": _TOTALS, "providers": {"P001": _TOTALS}, "lots": {"north": _TOTALS}},
    "run_by": "ann.officer",
    "run_at": "2026-11-29T09:05:00Z",
    "paid_by": None,
    "paid_at": None,
    "payment_requested_by": "ann.officer",
    "payment_requested_at": "2026-11-29T09:20:00Z",
    "voided_by": None,
    "voided_at": None,
    "void_reason": None,
}

_RUN_LINE = {
    "position": 1,
    "invoice_id": 4,
    "invoice_ref": "INV-2026-11-P001",
    "line_no": 1,
    "provider_ref": "P001",
    "service_user_ref": "SU0042",
    "visit_date": "2026-11-22",
    "start": "08:00:00",
    "end": "08:30:00",
    "minutes_claimed": 30,
    "carers": 1,
    "amount_claimed": "12.60",
    "outcome": "approved",
    "reason_code": None,
    "payable_minutes": 30,
    "payable_amount": "12.60",
    "matched_visit": VISIT_ID,
    "carers_verified": 1,
    "actual_minutes": 29,
    "uncommissioned": False,
}

_KPI_DAY = {
    "london_day": "2026-11-22",
    "planned": 52,
    "delivered": 50,
    "on_time_15": 33,
    "on_time_30": 48,
    "missed": 2,
    "unplanned": 1,
    "planned_minutes": 870,
    "delivered_planned_minutes": 812,
    "delivered_minutes": 739,
    "tag_or_code_verified": 42,
}

_CERTIFICATE = {
    "serial": "5f3a9c2e1b7d4a6c",
    "fingerprint_sha256": "7c1e3a5b9d2f4c6e8a0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c",
    "issued_at": "2026-11-01T07:00:00Z",
    "not_after": "2027-11-01T07:00:00Z",
    "revoked_at": None,
    "reason": None,
    "live": True,
}

_CONTRACT_TOML = (
    '[rules]\nbilling_unit_minutes = 15\nrounding = "nearest"\ntolerance_minutes = 5\n\n'
    '[[provider]]\nref = "P001"\ncontract = "framework"\nrate_per_hour = 25.20\nlot = "north"\n'
)

_PEM = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"

_PAY_CHECK = {
    "hourly_rate_gbp": "11.50",
    "travel_paid": False,
    "floor_gbp_per_hour": "12.21",
    "paid_minutes": 125,
    "worked_minutes": 162,
    "pay_gbp": "23.96",
    "floor_gbp": "32.97",
    "below_floor": True,
    "shortfall_gbp": "9.01",
    "effective_gbp_per_hour": "8.87",
}
_CARER_DAY = {
    "carer_id": "C0007",
    "carer_name": "Sam Carer",
    "day": "2026-01-15",
    "visits": 4,
    "open_visits": 0,
    "first_check_in": "2026-01-15T07:00:00Z",
    "last_check_out": "2026-01-15T12:30:00Z",
    "contact_minutes": 125,
    "travel_minutes": 37,
    "unpaid_gap_minutes": 168,
    "distance_km": 7.78,
    "pay": _PAY_CHECK,
}
_PAY_RATE = {"effective_from": "2025-04-01", "hourly_rate_gbp": "11.50", "travel_paid": False}

# By component schema name (as in #/components/schemas/...).
EXAMPLES: dict[str, Any] = {
    "Health": {"status": "ok", "database": "ok"},
    "AccessToken": {
        "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbm4ub2ZmaWNlciJ9.x",
        "token_type": "bearer",
        "expires_in": 900,
    },
    "Me": {
        "username": "ann.officer",
        "role": "council_officer",
        "council_id": "LA1",
        "provider_id": None,
        "provider_ids": ["P001", "P002"],
    },
    "RegistryDocument": {
        "councils": [{"id": "LA1", "name": "Norfolk County Council"}],
        "providers": [_PROVIDER],
        "commissions": [{"council_id": "LA1", "provider_id": "P001", "lot": "north"}],
        "carers": [_CARER],
        "devices": [_DEVICE],
        "service_users": [_SERVICE_USER],
        "telephony_numbers": [{"number": "+448000112233", "provider_id": "P001"}],
    },
    "SeedCounts": {
        "councils": 1,
        "providers": 1,
        "commissions": 1,
        "carers": 1,
        "devices": 1,
        "service_users": 1,
        "telephony_numbers": 1,
    },
    "ProviderList": {"items": [_PROVIDER], **_PAGE_END},
    "Provider": _PROVIDER,
    "CarerList": {
        "items": [_CARER],
        **_PAGE_END,
    },
    "DeviceList": {
        "items": [_DEVICE],
        **_PAGE_END,
    },
    "ServiceUserList": {
        "items": [_SERVICE_USER],
        **_PAGE_END,
    },
    "EventPage": {
        "items": [
            {
                "event_id": CHECK_IN_EVENT,
                "device_id": "D0007",
                "carer_id": "C0007",
                "service_user_id": "SU0042",
                "seq": 118,
                "type": "check_in",
                "device_time": "2026-11-22T08:02:11Z",
                "received_at": "2026-11-22T08:02:11.284133Z",
                "tag_uid": "04A1B2C3D4E5F6",
                "gps": {
                    "lat": 52.63093,
                    "lon": 1.29751,
                    "accuracy_m": 12.0,
                    "fix_time": "2026-11-22T08:02:05Z",
                },
            }
        ],
        "next_offset": 100,
    },
    "QuarantinePage": {
        "items": [
            {
                "id": 31,
                "received_at": "2026-11-22T09:14:02.118204Z",
                "topic": "ecm/v1/devices/D0011/events",
                "reason": "tag_counter_replayed",
                "detail": "tag 04A1B2C3D4E5F6 read counter 61 was already accepted "
                "(event 8a2f4c1e-5b7d-4e2a-9c3f-1d6e8b0a2c4f): a replayed or cloned tap",
                "device_id": "D0011",
                "event_id": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                "payload": "eyJhbGciOiJFZERTQSIsImtpZCI6IkQwMDExIn0.eyJ2ZXIiOjF9.c2ln",
            }
        ],
        **_PAGE_END,
    },
    "VisitPage": {"items": [_VISIT], **_PAGE_END},
    "Visit": _VISIT,
    "VisitSummary": {"complete": 48, "open": 2, "by_status": {"on_time": 33, "late": 15}},
    "CarerDayList": {"provider_id": "P001", "day": "2026-01-15", "items": [_CARER_DAY]},
    "CarerDayDetail": {
        **_CARER_DAY,
        "provider_id": "P001",
        "stays": [
            {
                "visit_id": VISIT_ID,
                "service_user_id": "SU0042",
                "service_user_name": "Mrs A. Example",
                "check_in": "2026-01-15T07:00:00Z",
                "check_out": "2026-01-15T07:30:00Z",
                "minutes": 30,
                "verification": "landline",
            },
            {
                "visit_id": SEGMENT_ID,
                "service_user_id": "SU0043",
                "service_user_name": "Mr B. Example",
                "check_in": "2026-01-15T07:45:00Z",
                "check_out": "2026-01-15T08:30:00Z",
                "minutes": 45,
                "verification": "tag",
            },
        ],
        "legs": [
            {
                "from_visit_id": VISIT_ID,
                "to_visit_id": SEGMENT_ID,
                "left_at": "2026-01-15T07:30:00Z",
                "arrived_at": "2026-01-15T07:45:00Z",
                "gap_minutes": 15,
                "travel_minutes": 15,
                "unpaid_gap_minutes": 0,
                "distance_km": 2.0,
                "speed_kmh": 8.0,
            }
        ],
    },
    # Its decimal is a number or a string going in, a string coming out: two schemas.
    "PayRate-Input": _PAY_RATE,
    "PayRate-Output": _PAY_RATE,
    "PayRateList": {"provider_id": "P001", "items": [_PAY_RATE]},
    "CouncilCarerDays": {
        "council_id": "LA1",
        "from": "2026-01-12",
        "to": "2026-01-18",
        "providers": [
            {
                "provider_id": "P001",
                "provider_name": "Broadland Home Care Ltd",
                "carer_days": 96,
                "withheld": False,
                "days_checked": 96,
                "days_below_floor": 31,
                "below_floor_share": 0.3229,
                "contact_minutes": 19460,
                "travel_minutes": 4810,
                "travel_minutes_per_contact_hour": 14.8,
                "unpaid_gap_minutes": 8840,
            },
            {
                "provider_id": "P002",
                "provider_name": "Yare Home Care Ltd",
                "carer_days": 2,
                "withheld": True,
                "days_checked": None,
                "days_below_floor": None,
                "below_floor_share": None,
                "contact_minutes": None,
                "travel_minutes": None,
                "travel_minutes_per_contact_hour": None,
                "unpaid_gap_minutes": None,
            },
        ],
    },
    "TelephonePin": {"pin": "482913"},
    "TelephonePinSet": {"carer_id": "C0007", "set_at": "2026-11-22T09:15:00Z", "pin": None},
    "Correction": _CORRECTION,
    "CorrectionRequest": {
        "carer_id": "C0007",
        "check_out": "2026-11-22T08:35:00Z",
        "reason_code": "device_failure",
        "note": "Phone battery died; the service user's daughter confirms the carer left at 08:35.",
    },
    "ScheduleImport": {
        "import_id": 3,
        "rows_read": 201,
        "created": 199,
        "changed": 1,
        "cancelled": 0,
        "unchanged": 0,
        "rejected": 1,
        "errors": [{"line": 57, "visit_ref": "V00056", "reason": "unknown service user SU9999"}],
    },
    "CouncilPolicy": {
        "late_after_minutes": 15,
        "missed_cutoff": "23:00",
        "correction_approval_minutes": 30,
        "escalate_after_minutes": 60,
    },
    "AlertList": {"items": [_ALERT]},
    "AlertDetail": {
        **_ALERT,
        "actions": [
            {
                "action": "acknowledged",
                "actor": "pat.manager",
                "at": "2026-11-22T13:04:10Z",
                "reason_code": "hospital",
                "note": "Admitted to hospital last night, says her daughter.",
                "assigned_to": None,
            }
        ],
    },
    "AlertNote": {"reason_code": "hospital", "note": "Admitted last night, says her daughter."},
    "AlertAssignment": {"carer_id": "C0007", "note": "Ann will call at the house on her way."},
    "AlertResolution": {
        "reason_code": "hospital",
        "note": "In hospital since last night; visits paused until she is home.",
    },
    "ManualVisitRequest": {
        "visit_ref": "V00068",
        "carer_id": "C0007",
        "check_in": "2026-11-22T12:04:00Z",
        "check_out": "2026-11-22T12:35:00Z",
        "note": "The handset was lost on the round; the service user's daughter confirms it.",
    },
    "ManualVisit": _MANUAL_VISIT,
    "ManualVisitList": {"items": [_MANUAL_VISIT]},
    "Worklist": {
        "corrections": [
            {
                **_CORRECTION,
                "needs_approval": True,
                "counts": False,
                "provider_id": "P001",
                "service_user_id": "SU0042",
                "london_day": "2026-11-22",
            }
        ],
        "manual_visits": [_MANUAL_VISIT],
        "escalated_alerts": [{**_ALERT, "escalated_at": "2026-11-22T14:00:04Z"}],
    },
    "WorklistDecision": {
        "decision": "reject",
        "reason": "The daughter's account does not match the rota: please call us.",
        "corrections": [12],
        "manual_visits": [5],
    },
    "WorklistOutcome": {
        "outcomes": [
            {"kind": "correction", "id": 12, "done": True, "message": "correction rejected"},
            {
                "kind": "manual_visit",
                "id": 5,
                "done": False,
                "message": "this manual visit was already approved",
            },
        ]
    },
    "Rejection": {"reason": "The new check-out is after the carer's next visit started."},
    "PeopleMatches": {
        "service_users": [{"id": "SU0042", "name": "Mrs A. Example"}],
        "carers": [{"id": "C0007", "name": "Sam Carer"}],
    },
    "ReconciliationSettings": {"second_payment_approval": True},
    "VoidRequest": {"reason": "Paid twice: the provider's invoice was re-sent as INV-78."},
    "WebhookRequest": {"url": "https://rota.example-care.co.uk/ecm/alerts"},
    "Webhook": {
        "id": 2,
        "url": "https://rota.example-care.co.uk/ecm/alerts",
        "secret": "whsec_4f9a2c7e1b3d5f8a0c2e4b6d",
    },
    "WebhookDeliveryList": {
        "items": [
            {
                "id": 140,
                "notification_id": 88,
                "endpoint_id": 2,
                "status": "delivered",
                "attempts": 2,
                "next_attempt_at": "2026-11-22T23:00:06Z",
                "delivered_at": "2026-11-22T23:00:06.412077Z",
            }
        ]
    },
    "KpiReport": {
        "council_id": "LA1",
        "from": "2026-11-22",
        "to": "2026-11-22",
        "providers": [
            {
                "provider_id": "P001",
                "lot": "north",
                "planned": 52,
                "delivered": 50,
                "on_time_15": 33,
                "on_time_30": 48,
                "on_time_15_share": 0.635,
                "on_time_30_share": 0.923,
                "missed": 2,
                "unplanned": 1,
                "planned_minutes": 870,
                "delivered_planned_minutes": 812,
                "planned_minutes_delivered_share": 0.933,
                "delivered_minutes": 739,
                "tag_or_code_verified": 42,
                "tag_or_code_verified_share": 0.84,
                "continuity_of_carer": 0.71,
                "lot_hours_share": 0.38,
                "days": [_KPI_DAY],
            }
        ],
    },
    "ContractVersion": {
        "council_id": "LA1",
        "version": 1,
        "sha256": _RUN["contract_sha256"],
        "uploaded_by": "ann.officer",
        "uploaded_at": "2026-11-01T09:00:00Z",
        "content": _CONTRACT_TOML,
    },
    "Invoice": _INVOICE,
    "RunRequest": {"invoice_ids": [4], "period_start": "2026-11-01", "period_end": "2026-11-30"},
    "Run": _RUN,
    "RunList": {
        "items": [
            {
                "id": 7,
                "contract_version": 1,
                "period_start": "2026-11-01",
                "period_end": "2026-11-30",
                "lines": 3,
                "claimed": "37.80",
                "payable": "12.60",
                "run_by": "ann.officer",
                "run_at": "2026-11-29T09:05:00Z",
                "paid_at": None,
            }
        ],
        **_PAGE_END,
    },
    "RunLinePage": {"items": [_RUN_LINE], **_PAGE_END},
    "RunLineDetail": {
        **_RUN_LINE,
        "evidence": [
            {
                "visit_id": VISIT_ID,
                "segment_id": SEGMENT_ID,
                "carer_ref": "C0007",
                "check_in": "2026-11-22T08:02:11Z",
                "check_out": "2026-11-22T08:31:40Z",
                "verification": "tag",
                "event_ids": [CHECK_IN_EVENT, CHECK_OUT_EVENT],
            }
        ],
    },
    "UnbilledVisit": {
        "visit_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "provider_ref": "P001",
        "service_user_ref": "SU0051",
        "carer_ref": "C0003",
        "check_in": "2026-11-22T17:30:02Z",
        "check_out": "2026-11-22T18:01:15Z",
        "verification": "code",
    },
    "RunComparison": {
        "run_id": 8,
        "other_run_id": 7,
        "changes": [
            {
                "invoice_ref": "INV-2026-11-P001",
                "line_no": 2,
                "before": {
                    "outcome": "held",
                    "reason_code": "UNVERIFIED",
                    "payable_minutes": 0,
                    "payable_amount": "0.00",
                },
                "after": {
                    "outcome": "approved",
                    "reason_code": None,
                    "payable_minutes": 30,
                    "payable_amount": "12.60",
                },
            }
        ],
    },
    "IssueIn": {"pkcs12_password": None},
    "IssuedCertificateOut": {
        "device_id": "D0007",
        "serial": "5f3a9c2e1b7d4a6c",
        "not_after": "2027-11-01T07:00:00Z",
        "certificate_pem": _PEM,
        "private_key_pem": "-----BEGIN PRIVATE KEY-----\nMIGH...\n-----END PRIVATE KEY-----\n",
        "ca_pem": _PEM,
        "pkcs12_base64": "MIIJ...",
        "pkcs12_password": "vT3q8N2mXc",
        "revoked_serials": ["2a7c4e9f1b3d5a6c"],
    },
    "RevokeIn": {"reason": "lost"},
    "Revoked": {"device_id": "D0007", "revoked": 1},
    "CertificateList": {"device_id": "D0007", "items": [_CERTIFICATE]},
    "TagRequest": {"uid": "04A1B2C3D4E5F6"},
    "ProgrammedTag": {
        "service_user_id": "SU0042",
        "uid": "04A1B2C3D4E5F6",
        "meta_read_key": "5F2A9C7E1B3D4A6C8E0F2B4D6A8C1E3F",
        "file_read_key": "A3C5E7F9B1D2E4F6A8C0B2D4E6F8A1C3",
    },
    "CodeDeviceRequest": {"digits": 8, "step_s": 30},
    "ProgrammedCodeDevice": {
        "service_user_id": "SU0042",
        "secret": "3132333435363738393031323334353637383930",
        "digits": 8,
        "step_s": 30,
        "window_steps": 1,
        "otpauth_uri": "otpauth://totp/ECM:SU0042?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        "&issuer=ECM&algorithm=SHA1&digits=8&period=30",
    },
    "PasswordSet": {"username": "ann.officer", "password_set": True},
    "PasswordReset": {
        "username": "ann.officer",
        "reset_code": "K7QM-3XTR-9PWD-HN4C-ZE6B",
        "expires_at": "2026-11-24T09:00:00Z",
    },
    "Body_reset_password_auth_password_reset_post": {
        "username": "ann.officer",
        "reset_code": "K7QM-3XTR-9PWD-HN4C-ZE6B",
        "new_password": "a new long passphrase",
    },
    "RetentionPolicy": {
        "care_records_years": 8,
        "registry_personal_data_years": 8,
        "quarantine_raw_days": 90,
        "audit_years": 8,
        "login_attempt_days": 90,
    },
    "SubjectAccessExport": {
        "format": 1,
        "service_user_id": "SU0042",
        "generated_at": "2026-11-23T10:00:00Z",
        "counts": {"service_user": 1, "visits": 1, "events": 2},
        "service_user": [
            {"id": "SU0042", "name": "Bea User", "council_id": "C-NORFOLK", "home_lat": 52.63}
        ],
        "home_tags": [],
        "home_code_devices": [],
        "planned_visits": [],
        "visits": [{"id": VISIT_ID, "london_day": "2026-11-22", "status": "on_time"}],
        "visit_carers": [],
        "visit_anomalies": [],
        "visit_corrections": [],
        "alerts": [],
        "alert_notifications": [],
        "alert_actions": [],
        "manual_visits": [],
        "events": [
            {"event_id": CHECK_IN_EVENT, "event_type": "check_in", "evidence_level": "tag"},
            {"event_id": CHECK_OUT_EVENT, "event_type": "check_out", "evidence_level": "tag"},
        ],
        "telephony_calls": [],
        "telephony_events": [],
        "service_requests": [],
        "service_offers": [],
        "service_request_events": [],
        "care_packages": [],
        "care_package_versions": [],
        "reconciliation_lines": [],
        "reconciliation_evidence": [],
        "reconciliation_unbilled": [],
        "erasure_requests": [],
        "accesses": [],
    },
    "ErasureReport": {
        "id": 3,
        "service_user_id": "SU0042",
        "council_id": "C-NORFOLK",
        "requested_by": "ann.officer",
        "requested_at": "2026-11-23T10:00:00Z",
        "care_ended": "2026-06-30T09:30:00Z",
        "pseudonymised": {"service_user": 1, "home_tag": 1, "home_code_device": 0},
        "deleted": {},
        "kept": [
            {
                "what": "care records",
                "rows": {"visit": 240, "planned_visit_version": 250},
                "until": "2034-06-30T09:30:00Z",
                "why": "care records are kept 8 years after care ended (retention policy of "
                "the council)",
            }
        ],
    },
    "Body_issue_token_auth_token_post": {
        "grant_type": "password",
        "username": "ann.officer",
        "password": "correct horse battery staple",
    },
}

# Bodies that are not JSON, by (method, path, "request" or the response status).
TEXT_EXAMPLES: dict[tuple[str, str, str], str] = {
    ("get", "/providers/{provider_id}/carer-days.csv", "200"): (
        "day,carer_id,carer_name,visits,open_visits,first_check_in,last_check_out,"
        "contact_minutes,travel_minutes,unpaid_gap_minutes,distance_km,hourly_rate_gbp,"
        "travel_paid,pay_gbp,floor_gbp_per_hour,floor_gbp,below_floor,shortfall_gbp,"
        "effective_gbp_per_hour\n"
        "2026-01-15,C0007,Sam Carer,4,0,2026-01-15T07:00:00+00:00,2026-01-15T12:30:00+00:00,"
        "125,37,168,7.8,11.50,no,23.96,12.21,32.97,yes,9.01,8.87\n"
    ),
    ("get", "/councils/{council_id}/carer-days.csv", "200"): (
        "provider_id,provider_name,carer_days,withheld,days_checked,days_below_floor,"
        "below_floor_share,contact_minutes,travel_minutes,travel_minutes_per_contact_hour,"
        "unpaid_gap_minutes\n"
        "P001,Broadland Home Care Ltd,96,no,96,31,0.323,19460,4810,14.8,8840\n"
    ),
    ("post", "/schedules", "request"): (
        "visit_ref,service_user_ref,provider_ref,planned_start,planned_minutes,carers_required,"
        "service_type,status\n"
        "V00017,SU0042,P001,2026-11-22T08:00:00+00:00,30,1,personal_care,planned\n"
    ),
    ("put", "/councils/{council_id}/contract", "request"): _CONTRACT_TOML,
    ("post", "/councils/{council_id}/invoices", "request"): (
        "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,minutes_claimed,"
        "carers,amount_claimed\n"
        "INV-2026-11-P001,1,P001,SU0042,2026-11-22,08:00,08:30,30,1,12.60\n"
    ),
    ("get", "/councils/{council_id}/reconciliation/runs/{run_id}/report.csv", "200"): (
        "invoice_ref,line_no,outcome,reason_code,payable_minutes,payable_amount,matched_visit\n"
        f"INV-2026-11-P001,1,approved,,30,12.60,{VISIT_ID}\n"
    ),
    ("get", "/service-users/{service_user_id}/subject-access.zip", "200"): (
        "(a zip file: README.txt and one CSV file per kind of record, e.g. visits.csv)"
    ),
    ("get", "/councils/{council_id}/reconciliation/runs/{run_id}/finance.csv", "200"): (
        "Invoice,Line,Provider,Provider name,Lot,Service user,Service user name,Visit date,Start,"
        "End,Claimed minutes,Claimed amount (GBP),Payable minutes,Payable amount (GBP),"
        "Variance (GBP),Outcome,Reason,Reason code,Planned visit\r\n"
        "INV-2026-11-P001,2,P001,Broadland Home Care Ltd,north,SU0042,Mrs A. Example,2026-11-22,"
        "12:00,12:30,30,12.60,0,0.00,12.60,Held,The visit was not verified at the home,"
        "UNVERIFIED,V00068\r\n"
    ),
    ("get", "/councils/{council_id}/reconciliation/runs/{run_id}/unbilled.csv", "200"): (
        "Provider,Provider name,Lot,Service user,Service user name,Carer,Carer name,Visit date,"
        "Check-in,Check-out,Minutes,Verified by\r\n"
        "P001,Broadland Home Care Ltd,north,SU0051,Mr B. Example,C0003,Sam Carer,2026-11-22,"
        "17:30,18:01,31,code\r\n"
    ),
    ("get", "/councils/{council_id}/reconciliation/runs/{run_id}/problems.csv", "200"): (
        "File,Line,Problem\r\ninvoice-november.csv,14,amount_claimed: not a sum of money\r\n"
    ),
    ("get", "/kpis.csv", "200"): (
        "Provider,Provider name,Lot,Week starting,Planned visits,Delivered,Missed,"
        "Started within 15 min (%),Started within 15 min: against target,"
        "Planned minutes delivered (%),Planned minutes delivered: against target,"
        "Verified by tag or code (%),Verified by tag or code: against target,Missed (%),"
        "Missed: against target\r\n"
        "P001,Broadland Home Care Ltd,north,2026-11-16,52,50,2,63.5,Below target,93.3,"
        "Near target,84.0,Near target,3.8,Below target\r\n"
    ),
    ("get", "/providers/{provider_id}/alerts/stream", "200"): (
        'id: 88\nevent: raised\ndata: {"id": 88, "visit_ref": "V00068", "kind": "missed"}\n\n'
    ),
}

# Commissioning's examples live beside its routes.
from api.commissioning.examples import EXAMPLES as _COMMISSIONING  # noqa: E402
from api.commissioning.examples import TEXT_EXAMPLES as _COMMISSIONING_TEXT  # noqa: E402

EXAMPLES |= _COMMISSIONING
TEXT_EXAMPLES |= _COMMISSIONING_TEXT
