"""requests.csv: one row per weekly visit, rows of one request_ref make one request; every bad
row is reported with its physical line number and reason."""

from __future__ import annotations

from datetime import date, time

import pytest

from commissioning.formats import (
    RequestsFileError,
    parse_days,
    parse_requests,
    write_csv,
)

HEADER = (
    "request_ref,service_user_ref,lot_ref,start_date,end_date,days,start_time,minutes,carers,"
    "service_type,notes\n"
)


def test_rows_of_one_reference_make_one_request() -> None:
    content = HEADER + (
        "R1,SU1,north,2026-03-02,,daily,07:30,45,2,personal care,Key safe 1234\n"
        "R1,SU1,north,2026-03-02,,Mon-Fri,17:00,30,1,meal,\n"
        "R2,SU2,north,2026-03-09,2026-06-30,Sat Sun,12:00,30,1,meal,\n"
    )
    requests, errors = parse_requests(content)
    assert errors == []
    first, second = requests
    assert first.request_ref == "R1" and first.lines == [2, 3]
    assert first.notes == "Key safe 1234"
    assert [len(slot.days) for slot in first.pattern] == [7, 5]
    assert first.pattern[0].start == time(7, 30) and first.pattern[0].carers == 2
    assert second.end_date == date(2026, 6, 30) and second.pattern[0].days == {5, 6}


def test_bad_rows_are_reported_with_their_line_and_their_request_is_not_imported() -> None:
    content = HEADER + (
        "R1,SU1,north,2026-03-02,,daily,07:30,45,2,personal care,\n"  # 2: good
        "R1,SU1,north,2026-03-02,,Mnd,12:00,30,1,meal,\n"  # 3: bad day
        "R1,SU1,north,2026-03-02,,daily,17:00,30,1,meal,\n"  # 4: good, but its request fails
        "R2,SU2,north,2026-02-30,,daily,07:30,45,1,personal care,\n"  # 5: no such date
        "R3,SU3,north,2026-03-02,,daily,7:30,45,1,personal care,\n"  # 6: time not HH:MM
        "R4,SU4,north,2026-03-02,,daily,07:30,0,1,personal care,\n"  # 7: zero minutes
        "R5,SU5,north,2026-03-02,2026-03-01,daily,07:30,30,1,personal care,\n"  # 8: end < start
        "R6,SU6,north,2026-03-02,,daily,07:30,30,1,personal care,\n"  # 9: good
        "R6,SU7,north,2026-03-02,,daily,12:30,30,1,meal,\n"  # 10: another person
        "R7,SU8,north,2026-03-02,,Mon,08:00,30,1,meal,\n"  # 11: good
        "R7,SU8,north,2026-03-02,,Mon-Wed,08:00,30,1,meal,\n"  # 12: Monday 08:00 twice
        "R8,SU9,north,2026-03-02,,daily,07:30,30,9,personal care,\n"  # 13: nine carers
        ",SU9,north,2026-03-02,,daily,07:30,30,1,personal care,\n"  # 14: no reference
        "R9,SU10,north,2026-03-02,,daily,07:30,30,1,personal care,extra\n"  # 15: good
        "R10,SU11,north,2026-03-02,,daily,07:30,30,1,personal care,note,surplus\n"  # 16
    )
    requests, errors = parse_requests(content)
    assert [r.request_ref for r in requests] == ["R9"]
    assert [(e.line, e.request_ref, e.reason) for e in errors] == [
        (2, "R1", "request R1 not imported: line 3 of it is bad"),
        (3, "R1", "days: 'mnd' is not a day (Mon ... Sun, a range such as Mon-Fri, or daily)"),
        (4, "R1", "request R1 not imported: line 3 of it is bad"),
        (5, "R2", "start_date is not a real date"),
        (6, "R3", "start_time is not HH:MM (24-hour London time)"),
        (7, "R4", "minutes must be from 1 to 1440"),
        (8, "R5", "end_date is before start_date"),
        (9, "R6", "request R6 not imported: line 10 of it is bad"),
        (10, "R6", "service_user_ref differs from line 9 of request R6"),
        (11, "R7", "request R7 not imported: line 12 of it is bad"),
        (
            12,
            "R7",
            "two visits start on Mon at 08:00; give one visit with more carers",
        ),
        (13, "R8", "carers must be from 1 to 4"),
        (14, None, "request_ref is empty"),
        (16, "R10", "more fields than the header names"),
    ]


def test_a_quoted_field_across_lines_keeps_the_line_count_right() -> None:
    content = HEADER + (
        'R1,SU1,north,2026-03-02,,daily,07:30,45,1,personal care,"two\nlines"\n'
        "R2,SU2,north,2026-03-02,,daily,07:30,45,1,personal care,\n"
        "R3,SU3,north,2026-03-02,,daily,07:30,x,1,personal care,\n"
    )
    requests, errors = parse_requests(content)
    assert [r.notes for r in requests] == ["two\nlines", ""]
    assert [(e.line, e.reason) for e in errors] == [(5, "minutes is not a whole number")]


def test_a_file_without_the_columns_is_refused_whole() -> None:
    with pytest.raises(RequestsFileError, match="header lacks column"):
        parse_requests("request_ref,service_user_ref\nR1,SU1\n")


def test_days() -> None:
    assert parse_days("daily") == frozenset(range(7))
    assert parse_days("Mon-Fri") == frozenset(range(5))
    assert parse_days("sat-mon") == frozenset({5, 6, 0})
    assert parse_days("Mon+Wed; Fri") == frozenset({0, 2, 4})
    with pytest.raises(ValueError):
        parse_days("  ")


def test_free_text_is_kept_from_becoming_a_spreadsheet_formula() -> None:
    # Every writer goes through core.csv_safe (tests/core/test_csv_safe.py walks them all).
    written = write_csv(("note",), [('=HYPERLINK("x")',), ("@SUM(A1)",), ("No carers",), (-5,)])
    assert written.splitlines() == ["note", '"\'=HYPERLINK(""x"")"', "'@SUM(A1)", "No carers", "-5"]
