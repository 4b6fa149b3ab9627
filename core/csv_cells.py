"""Cells that are safe to open in a spreadsheet: the exports people download from the portal
and the API (finance lines, unbilled visits, problems, KPIs) write every cell through
`safe_cell`.

A spreadsheet runs a cell beginning with `=`, `+`, `-` or `@` (and, in some, a tab or a carriage
return) as a formula: an invoice reference "=HYPERLINK(...)" would become a live link in a
finance officer's copy. OWASP's rule: prefix such a text cell with a single quote, which the
spreadsheet shows as text and does not run. Numbers are written as numbers (a number is never
a formula), so sums and sorts still work.

One function on purpose: a project-wide CSV helper can replace it in one place."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """RFC 4180 CSV (CRLF), UTF-8 with a byte-order mark so spreadsheets read names and £
    correctly, every cell through safe_cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
