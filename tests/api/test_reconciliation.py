"""Reconciliation as a service, end to end against the real database: a schedule imported,
events stored, visits built, an invoice uploaded, runs started, paid, compared and exported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.auth.roles import Role
from core.settings import Settings
from ecm.cli import cli
from tests.api.api_support import client_for
from tests.visits.support import IN, OUT, TAG, CareWorld, build, care_world, plan, store, utc
from visits.export import actuals_csv, schedule_csv

DAY = date(2026, 3, 2)  # a Monday in GMT: London times equal UTC
INVOICE_HEADER = (
    "invoice_ref,line_no,provider_ref,service_user_ref,visit_date,start,end,minutes_claimed,"
    "carers,amount_claimed\n"
)


@dataclass
class Scene:
    world: CareWorld
    home: str
    stranger: str  # a service user of the council nobody planned a visit for
    planned_ref: str
    event_ids: tuple[UUID, UUID]
    contract: str

    def invoice(self, ref: str, *lines: str) -> str:
        return INVOICE_HEADER + "".join(f"{ref},{line}\n" for line in lines)

    def runs(self) -> str:
        return f"/councils/{self.world.council_id}/reconciliation/runs"


@pytest.fixture
def scene(engine: Engine, settings: Settings) -> Scene:
    w = care_world(engine)
    ann = w.add_handset()
    home, stranger = w.add_home(), w.add_home()
    ref = plan(engine, w, home, "2026-03-02T09:00:00+00:00", 30)
    plan(engine, w, home, "2026-03-02T18:00:00+00:00", 30)
    arrived = store(engine, ann, home, IN, utc("2026-03-02T09:00:00"), evidence=TAG)
    left = store(engine, ann, home, OUT, utc("2026-03-02T09:31:00"), evidence=TAG)
    # The evening visit happened and was verified, but nobody invoices it: unbilled.
    store(engine, ann, home, IN, utc("2026-03-02T18:00:00"), evidence=TAG)
    store(engine, ann, home, OUT, utc("2026-03-02T18:30:00"), evidence=TAG)
    build(engine, settings, w, DAY, utc("2026-12-31T00:00:00"))
    contract = (
        '[rules]\nbilling_unit_minutes = 15\nrounding = "nearest"\n\n'
        f'[[provider]]\nref = "{w.provider_id}"\ncontract = "framework"\n'
        f'rate_per_hour = 24.00\nlot = "{w.lot}"\n'
    )
    return Scene(w, home, stranger, ref, (arrived, left), contract)


@pytest.fixture
def officer(settings: Settings, scene: Scene) -> Iterator[TestClient]:
    yield from client_for(settings, Role.COUNCIL_OFFICER, council_id=scene.world.council_id)


def _upload(client: TestClient, scene: Scene, content: str, name: str) -> int:
    response = client.post(
        f"/councils/{scene.world.council_id}/invoices",
        params={"name": name},
        content=content.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _run(client: TestClient, scene: Scene, *invoice_ids: int) -> dict[str, object]:
    response = client.post(scene.runs(), json={"invoice_ids": list(invoice_ids)})
    assert response.status_code == 201, response.text
    run: dict[str, object] = response.json()
    return run


def _put_contract(client: TestClient, scene: Scene) -> None:
    response = client.put(
        f"/councils/{scene.world.council_id}/contract",
        content=scene.contract.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text


def _lines(client: TestClient, scene: Scene, run_id: object) -> list[dict[str, object]]:
    response = client.get(f"{scene.runs()}/{run_id}/lines")
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_a_run_on_the_store_decides_as_the_engine_defines(
    officer: TestClient, scene: Scene, engine: Engine, tmp_path: Path
) -> None:
    w = scene.world
    _put_contract(officer, scene)
    invoice = scene.invoice(
        "INV-A",
        f"1,{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00",
        f"2,{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00",
        f"3,{w.provider_id},{scene.stranger},2026-03-02,10:00,10:30,30,1,12.00",
        f"4,{w.provider_id},{scene.home},2026-03-02,9am,09:30,30,1,12.00",
        f"5,P-NOT-PRICED,{scene.home},2026-03-02,09:00,09:30,30,1,12.00",
    )
    invoice_id = _upload(officer, scene, invoice, "inv-a.csv")
    run = _run(officer, scene, invoice_id)

    lines = _lines(officer, scene, run["id"])
    assert [(x["line_no"], x["outcome"], x["reason_code"]) for x in lines] == [
        (1, "approved", None),
        (2, "rejected", "DUPLICATE_CLAIM"),
        (3, "rejected", "NO_VISIT"),
    ]
    assert lines[0]["matched_visit"] == scene.planned_ref
    assert lines[0]["payable_amount"] == "12.00"
    assert [x["uncommissioned"] for x in lines] == [False, False, True]
    assert [(p["line"], p["reason"]) for p in run["problems"]] == [  # type: ignore[attr-defined]
        (5, "start: not a local HH:MM time: '9am'"),
        (6, "provider P-NOT-PRICED not in contract"),
    ]
    summary = run["summary"]
    assert isinstance(summary, dict)
    assert summary["overall"]["outcomes"] == {
        "approved": 1,
        "adjusted": 0,
        "held": 0,
        "rejected": 2,
    }
    assert summary["overall"]["unbilled_visits"] == 1
    assert summary["overall"]["uncommissioned_lines"] == 1
    assert list(summary["providers"]) == [w.provider_id]
    assert summary["lots"][w.lot]["payable"] == "12.00"
    assert len(str(run["schedule_sha256"])) == len(str(run["actuals_sha256"])) == 64

    # The payable line links to the stay and the two events behind it.
    detail = officer.get(f"{scene.runs()}/{run['id']}/lines/1").json()
    assert [UUID(e) for e in detail["evidence"][0]["event_ids"]] == list(scene.event_ids)
    unbilled = officer.get(f"{scene.runs()}/{run['id']}/unbilled").json()
    assert [u["check_in"] for u in unbilled] == ["2026-03-02T18:00:00Z"]

    # report.csv is byte for byte what `ecm reconcile` writes on the exported visits.
    exported = officer.get(f"{scene.runs()}/{run['id']}/report.csv")
    assert exported.status_code == 200
    with engine.connect() as conn:
        (tmp_path / "actuals.csv").write_text(
            actuals_csv(conn, DAY, DAY, provider_id=w.provider_id)
        )
        (tmp_path / "schedule.csv").write_text(
            schedule_csv(conn, DAY, DAY, provider_id=w.provider_id)
        )
    (tmp_path / "contract.toml").write_text(scene.contract)
    (tmp_path / "inv-a.csv").write_text(invoice)
    result = CliRunner().invoke(
        cli,
        [
            "reconcile",
            *("--contract", str(tmp_path / "contract.toml")),
            *("--schedule", str(tmp_path / "schedule.csv")),
            *("--actuals", str(tmp_path / "actuals.csv")),
            *("--invoices", str(tmp_path / "inv-a.csv")),
            *("--out", str(tmp_path / "report.csv")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert exported.content == (tmp_path / "report.csv").read_bytes()


def test_a_paid_run_makes_a_later_claim_a_duplicate_and_runs_compare(
    officer: TestClient, scene: Scene
) -> None:
    w = scene.world
    _put_contract(officer, scene)
    line = f"{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00"
    first = _run(officer, scene, _upload(officer, scene, scene.invoice("INV-1", f"1,{line}"), "a"))
    # Before payment a second run decides the same: nothing was claimed yet.
    again = _run(officer, scene, _upload(officer, scene, scene.invoice("INV-1", f"1,{line}"), "a"))
    same = officer.get(f"{scene.runs()}/{first['id']}/compare/{again['id']}").json()
    assert same["changes"] == []

    paid = officer.post(f"{scene.runs()}/{first['id']}/paid")
    assert paid.status_code == 200 and paid.json()["paid_at"] is not None
    assert officer.post(f"{scene.runs()}/{first['id']}/paid").status_code == 409

    rebill = _upload(officer, scene, scene.invoice("INV-1", f"1,{line}", f"2,{line}"), "b")
    later = _run(officer, scene, rebill)
    assert [(x["outcome"], x["reason_code"]) for x in _lines(officer, scene, later["id"])] == [
        ("rejected", "DUPLICATE_CLAIM"),
        ("rejected", "DUPLICATE_CLAIM"),
    ]
    changes = officer.get(f"{scene.runs()}/{first['id']}/compare/{later['id']}").json()["changes"]
    assert changes == [
        {
            "invoice_ref": "INV-1",
            "line_no": 1,
            "before": {
                "outcome": "approved",
                "reason_code": None,
                "payable_minutes": 30,
                "payable_amount": "12.00",
            },
            "after": {
                "outcome": "rejected",
                "reason_code": "DUPLICATE_CLAIM",
                "payable_minutes": 0,
                "payable_amount": "0.00",
            },
        },
        {
            "invoice_ref": "INV-1",
            "line_no": 2,
            "before": None,
            "after": {
                "outcome": "rejected",
                "reason_code": "DUPLICATE_CLAIM",
                "payable_minutes": 0,
                "payable_amount": "0.00",
            },
        },
    ]
    listed = officer.get(scene.runs()).json()["items"]
    assert [r["id"] for r in listed] == [later["id"], again["id"], first["id"]]


def test_a_run_folds_in_evidence_stored_since_the_last_visit_build(
    officer: TestClient, scene: Scene, engine: Engine
) -> None:
    """Visits are derived data: a run rebuilds what new events changed before reading them, as
    every visit read does, so a visit nobody has looked at yet is still found."""
    w = scene.world
    _put_contract(officer, scene)
    plan(engine, w, scene.stranger, "2026-03-02T12:00:00+00:00", 30)
    ann = w.handsets[0]
    store(engine, ann, scene.stranger, IN, utc("2026-03-02T12:00:00"), evidence=TAG)
    store(engine, ann, scene.stranger, OUT, utc("2026-03-02T12:30:00"), evidence=TAG)
    invoice = scene.invoice(
        "INV-N", f"1,{w.provider_id},{scene.stranger},2026-03-02,12:00,12:30,30,1,12.00"
    )
    run = _run(officer, scene, _upload(officer, scene, invoice, "n"))
    lines = _lines(officer, scene, run["id"])
    assert [(x["outcome"], x["payable_amount"]) for x in lines] == [("approved", "12.00")]


def test_another_council_and_providers_see_nothing(
    settings: Settings, engine: Engine, officer: TestClient, scene: Scene
) -> None:
    _put_contract(officer, scene)
    invoice = scene.invoice(
        "INV-X", f"1,{scene.world.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00"
    )
    run = _run(officer, scene, _upload(officer, scene, invoice, "x"))
    other = care_world(engine)
    for foreign in client_for(settings, Role.COUNCIL_OFFICER, council_id=other.council_id):
        for path in ("", "/lines", "/lines/1", "/report.csv", "/unbilled"):
            assert foreign.get(f"{scene.runs()}/{run['id']}{path}").status_code == 404
        # Its own council's address with our run id: still not found.
        own = f"/councils/{other.council_id}/reconciliation/runs/{run['id']}"
        assert foreign.get(own).status_code == 404
        assert foreign.post(f"{own}/paid").status_code == 404
        assert foreign.get(f"/councils/{scene.world.council_id}/contract").status_code == 404
    for manager in client_for(settings, Role.PROVIDER_MANAGER, provider_id=scene.world.provider_id):
        assert manager.get(f"{scene.runs()}/{run['id']}").status_code == 403


def test_a_contract_is_versioned_and_a_bad_one_refused(officer: TestClient, scene: Scene) -> None:
    path = f"/councils/{scene.world.council_id}/contract"
    assert officer.get(path).status_code == 404
    _put_contract(officer, scene)
    _put_contract(officer, scene)  # the same text: still version 1
    assert officer.get(path).json()["version"] == 1
    changed = scene.contract.replace("24.00", "25.00")
    assert officer.put(path, content=changed.encode()).json()["version"] == 2
    refused = officer.put(path, content=b"[rules]\nbilling_unit_minutes = 'x'\n")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "contract_invalid"


def test_the_council_pages_upload_run_drill_down_compare_and_pay(
    settings: Settings, engine: Engine, officer: TestClient, scene: Scene
) -> None:
    w = scene.world
    base = f"/portal/councils/{w.council_id}/reconciliation"
    home = officer.get("/portal/reconciliation", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == base
    empty = officer.get(base)
    assert empty.status_code == 200 and "No contract yet" in empty.text
    assert 'href="/portal/reconciliation"' in empty.text  # the navigation link

    posted = officer.post(
        f"{base}/contract",
        files={"file": ("contract.toml", scene.contract.encode(), "text/plain")},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    line = f"{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00"
    invoice = scene.invoice("INV-P", f"1,{line}", f"2,{line}")
    posted = officer.post(
        f"{base}/invoices",
        files={"file": ("inv-p.csv", invoice.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    page = officer.get(posted.headers["location"])
    assert "Invoice inv-p.csv: 2 lines read, 0 problems" in page.text
    invoice_id = officer.get(f"/councils/{w.council_id}/invoices").json()[0]["id"]

    first = officer.post(f"{base}/runs", data={"invoice_ids": [invoice_id]}, follow_redirects=False)
    assert first.status_code == 303
    run_page = officer.get(first.headers["location"])
    assert run_page.status_code == 200
    assert "Per provider" in run_page.text and "Per lot" in run_page.text and w.lot in run_page.text
    # Reasons in words, the outcome as a word in a coloured badge, amounts in pounds.
    assert "The visit was already claimed" in run_page.text and scene.planned_ref in run_page.text
    assert '<span class="badge badge-rejected">Rejected</span>' in run_page.text
    assert "£12.00" in run_page.text
    assert "report.csv" in run_page.text and "finance.csv" in run_page.text
    line_page = officer.get(f"{first.headers['location']}/lines/1")
    assert line_page.status_code == 200
    assert all(str(event_id) in line_page.text for event_id in scene.event_ids)
    # London time on the drill-down (the visit was 09:00 GMT).
    assert "2 Mar 09:00:00" in line_page.text and "UTC" not in line_page.text

    # Paying is never one click: the button leads to a confirmation with the totals.
    unconfirmed = officer.post(f"{first.headers['location']}/paid", follow_redirects=False)
    assert unconfirmed.headers["location"] == f"{first.headers['location']}/pay"
    confirm = officer.get(unconfirmed.headers["location"])
    assert "Pay run #" in confirm.text and "£12.00" in confirm.text and "£24.00" in confirm.text
    assert "Not paid" in officer.get(first.headers["location"]).text
    assert (
        officer.post(
            f"{first.headers['location']}/paid", data={"confirm": "yes"}, follow_redirects=False
        ).status_code
        == 303
    )
    second = officer.post(
        f"{base}/runs", data={"invoice_ids": [invoice_id]}, follow_redirects=False
    )
    first_id = first.headers["location"].rsplit("/", 1)[1]
    second_id = second.headers["location"].rsplit("/", 1)[1]
    compared = officer.get(f"{base}/runs/{first_id}/compare", params={"other": second_id})
    assert compared.status_code == 200
    assert "Approved</span>; pays 30 min, £12.00" in compared.text
    assert "Rejected</span> The visit was already claimed; pays 0 min, £0.00" in compared.text
    assert "Paid" in officer.get(first.headers["location"]).text

    other = care_world(engine)
    for foreign in client_for(settings, Role.COUNCIL_OFFICER, council_id=other.council_id):
        assert foreign.get(first.headers["location"]).status_code == 404
        assert foreign.get(f"{first.headers['location']}/lines/1").status_code == 404


def test_a_summer_line_shows_its_evidence_in_london_time_not_utc(
    settings: Settings, engine: Engine
) -> None:
    # 15 June 2026 is in BST: the visit checked in at 09:30 UTC, which London calls 10:30.
    w = care_world(engine)
    ann = w.add_handset()
    home = w.add_home()
    plan(engine, w, home, "2026-06-15T09:30:00+00:00", 30)
    events = (
        store(engine, ann, home, IN, utc("2026-06-15T09:30:00"), evidence=TAG),
        store(engine, ann, home, OUT, utc("2026-06-15T10:01:00"), evidence=TAG),
    )
    build(engine, settings, w, date(2026, 6, 15), utc("2026-12-31T00:00:00"))
    contract = (
        '[rules]\nbilling_unit_minutes = 15\nrounding = "nearest"\n\n'
        f'[[provider]]\nref = "{w.provider_id}"\ncontract = "framework"\n'
        f'rate_per_hour = 24.00\nlot = "{w.lot}"\n'
    )
    # The provider invoices in London time, as people write it.
    invoice = INVOICE_HEADER + f"INV-S,1,{w.provider_id},{home},2026-06-15,10:30,11:00,30,1,12.00\n"
    base = f"/portal/councils/{w.council_id}/reconciliation"
    for officer in client_for(settings, Role.COUNCIL_OFFICER, council_id=w.council_id):
        officer.post(
            f"{base}/contract",
            files={"file": ("contract.toml", contract.encode(), "text/plain")},
            follow_redirects=False,
        )
        officer.post(
            f"{base}/invoices",
            files={"file": ("inv-s.csv", invoice.encode(), "text/csv")},
            follow_redirects=False,
        )
        invoice_id = officer.get(f"/councils/{w.council_id}/invoices").json()[0]["id"]
        run = officer.post(
            f"{base}/runs", data={"invoice_ids": [invoice_id]}, follow_redirects=False
        )
        line_page = officer.get(f"{run.headers['location']}/lines/1")
    assert line_page.status_code == 200
    assert all(str(event_id) in line_page.text for event_id in events)
    # The times shown are converted: 10:30 and 11:01 London time, not the stored 09:30 UTC.
    assert "15 Jun 10:30:00" in line_page.text and "15 Jun 11:01:00" in line_page.text
    assert "09:30:00" not in line_page.text and "10:01:00" not in line_page.text
    assert "UTC" not in line_page.text


def test_a_council_may_want_two_officers_to_pay_and_a_paid_run_can_be_voided(
    settings: Settings, officer: TestClient, scene: Scene, engine: Engine
) -> None:
    w = scene.world
    _put_contract(officer, scene)
    line = f"{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00"
    first = _run(officer, scene, _upload(officer, scene, scene.invoice("INV-2", f"1,{line}"), "a"))
    settings_url = f"/councils/{w.council_id}/reconciliation/settings"
    assert officer.get(settings_url).json() == {"second_payment_approval": False}
    assert officer.put(settings_url, json={"second_payment_approval": True}).status_code == 200
    asked = officer.post(f"{scene.runs()}/{first['id']}/paid").json()
    assert asked["paid_at"] is None and asked["payment_requested_by"] is not None
    # The officer who confirmed cannot also approve.
    refused = officer.post(f"{scene.runs()}/{first['id']}/paid")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "second_approval_needed"
    for colleague in client_for(settings, Role.COUNCIL_OFFICER, council_id=w.council_id):
        paid = colleague.post(f"{scene.runs()}/{first['id']}/paid").json()
    assert paid["paid_at"] is not None and paid["paid_by"] != paid["payment_requested_by"]
    # Voiding needs a reason, undoes the claim, and deletes nothing.
    runs_url = f"{scene.runs()}/{first['id']}"
    assert officer.post(f"{runs_url}/void", json={"reason": ""}).status_code == 422
    voided = officer.post(f"{runs_url}/void", json={"reason": "Paid twice by mistake"}).json()
    assert voided["voided_at"] is not None and voided["void_reason"] == "Paid twice by mistake"
    assert officer.post(f"{runs_url}/void", json={"reason": "again"}).status_code == 409
    assert officer.post(f"{runs_url}/paid").status_code == 409
    assert len(_lines(officer, scene, first["id"])) == 1  # still on record
    officer.put(settings_url, json={"second_payment_approval": False})
    later = _run(officer, scene, _upload(officer, scene, scene.invoice("INV-3", f"1,{line}"), "b"))
    # The voided payment claims nothing: the visit can be paid again.
    assert [x["outcome"] for x in _lines(officer, scene, later["id"])] == ["approved"]
    with engine.connect() as conn:
        actions = conn.exec_driver_sql(
            "select action, method, path from audit_log where path like %(p)s order by id",
            {"p": f"{runs_url}/%"},
        ).all()
    assert ("change", "POST", f"{runs_url}/void") in [tuple(a) for a in actions]


def test_lines_filter_by_provider_reason_and_outcome_sort_and_count(
    officer: TestClient, scene: Scene
) -> None:
    w = scene.world
    _put_contract(officer, scene)
    ok = f"{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00"
    nobody = f"{w.provider_id},{scene.stranger},2026-03-02,10:00,10:30,30,1,9.00"
    run = _run(
        officer,
        scene,
        _upload(officer, scene, scene.invoice("INV-4", f"1,{ok}", f"2,{nobody}", f"3,{ok}"), "c"),
    )
    url = f"{scene.runs()}/{run['id']}/lines"
    rejected = officer.get(url, params={"outcome": "rejected"}).json()
    assert rejected["total"] == 2 and len(rejected["items"]) == 2
    no_visit = officer.get(url, params={"reason_code": "NO_VISIT"}).json()
    assert [x["line_no"] for x in no_visit["items"]] == [2]
    by_variance = officer.get(url, params={"sort": "-variance", "limit": 1}).json()
    assert by_variance["total"] == 3 and by_variance["next_offset"] == 1
    assert by_variance["items"][0]["amount_claimed"] == "12.00"
    assert officer.get(url, params={"provider_ref": "P-else"}).json()["total"] == 0
    assert officer.get(url, params={"sort": "colour"}).status_code == 422
    page = officer.get(
        f"/portal/councils/{w.council_id}/reconciliation/runs/{run['id']}",
        params={"reason": "NO_VISIT"},
    )
    assert "Lines 1 to 1 of 1" in page.text and "No visit recorded at that time" in page.text


def test_finance_exports_open_as_csv_with_names_lot_pounds_and_safe_cells(
    officer: TestClient, scene: Scene, engine: Engine
) -> None:
    import csv
    import io

    w = scene.world
    _put_contract(officer, scene)
    ok = f"{w.provider_id},{scene.home},2026-03-02,09:00,09:30,30,1,12.00"
    run = _run(
        officer,
        scene,
        _upload(
            officer,
            scene,
            INVOICE_HEADER + f'=HYPERLINK("x"),1,{ok}\nINV-5,2,{ok}\nINV-5,oops,{ok}\n',
            "=evil.csv",
        ),
    )
    base = f"{scene.runs()}/{run['id']}"

    def rows(name: str) -> list[dict[str, str]]:
        response = officer.get(f"{base}/{name}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith("\ufeff".encode())
        return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))

    lines = rows("finance.csv")
    assert [(r["Invoice"], r["Outcome"], r["Reason"]) for r in lines] == [
        ('\'=HYPERLINK("x")', "Approved", ""),
        ("INV-5", "Rejected", "The visit was already claimed"),
    ]
    first = lines[0]
    assert first["Provider"] == w.provider_id and first["Provider name"] == "Test Care Ltd"
    assert first["Lot"] == w.lot and first["Service user name"] == "A Person"
    assert (first["Visit date"], first["Start"], first["End"]) == ("2026-03-02", "09:00", "09:30")
    assert (first["Claimed minutes"], first["Claimed amount (GBP)"]) == ("30", "12.00")
    assert (first["Payable amount (GBP)"], lines[1]["Variance (GBP)"]) == ("12.00", "12.00")
    unbilled = rows("unbilled.csv")
    assert [(u["Check-in"], u["Carer name"], u["Minutes"]) for u in unbilled] == [
        ("18:00", "A Carer", "30")
    ]
    problems = rows("problems.csv")
    assert [(p["File"], p["Line"]) for p in problems] == [("'=evil.csv", "4")]
