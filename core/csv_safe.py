"""CSV that is safe to open in a spreadsheet and exact for machines: every CSV the system writes
goes through `writer` (docs/csv.md).

Spreadsheets run a cell that begins with `=`, `+`, `-` or `@` as a formula, and some also after a
leading tab or carriage return (CSV injection: `=HYPERLINK(...)` in an invoice reference becomes
a live link in a finance officer's copy of report.csv). OWASP's rule: prefix such a cell with a
single quote, which spreadsheets show as text and do not run.

So that machines still read the data exactly, the rule is reversible:

- written: a text cell beginning with one of `= + - @ TAB CR` gets a `'` in front; so does a cell
  that already begins with `'` followed by one of those or by another `'` (otherwise a reader
  could not tell it from an escaped one);
- read back (`restore`, and `reader`): a cell beginning with `'` followed by one of
  `= + - @ TAB CR '` loses that first `'`. Nothing else changes.

`restore(neutralise(x)) == x` for every string x. Plain numbers are left alone, so -5 stays -5
for a machine and a spreadsheet alike (a number cannot be a formula): an int, float or Decimal
value, or text that is exactly a decimal number (`-5`, `+12.60`), is written as it is.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

TRIGGERS = frozenset("=+-@\t\r")
QUOTE = "'"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def neutralise(value: object) -> object:
    """The cell as written: text that a spreadsheet would run gets a leading quote."""
    if not isinstance(value, str) or not value:
        return value
    first = value[0]
    if first in TRIGGERS:
        if _NUMBER.fullmatch(value):
            return value
        return QUOTE + value
    if first == QUOTE and len(value) > 1 and (value[1] in TRIGGERS or value[1] == QUOTE):
        return QUOTE + value
    return value


def restore(cell: str) -> str:
    """The cell as it was before `neutralise`: the one added quote removed."""
    if len(cell) > 1 and cell[0] == QUOTE and (cell[1] in TRIGGERS or cell[1] == QUOTE):
        return cell[1:]
    return cell


# The first characters that need a look; anything else is written as it is (the fast path:
# report.csv can have a million rows).
_LOOK = frozenset(TRIGGERS | {QUOTE})


def neutralise_row(row: Iterable[object]) -> list[object]:
    return [
        neutralise(cell) if isinstance(cell, str) and cell[:1] in _LOOK else cell for cell in row
    ]


class Writable(Protocol):
    def write(self, text: str, /) -> object: ...


class SafeWriter:
    """csv.writer's interface, every cell neutralised."""

    def __init__(self, handle: Writable, **options: Any) -> None:
        self._writer = csv.writer(handle, **options)
        # csv quotes a field holding a character of the line terminator, but with "\n" line
        # ends a bare carriage return goes out unquoted, and every reader takes it for a line
        # end. Rows with one are written fully quoted instead.
        self._bare_cr = "\r" not in options.get("lineterminator", "\r\n")
        self._quoted = csv.writer(handle, **{**options, "quoting": csv.QUOTE_ALL})

    def writerow(self, row: Iterable[object]) -> Any:
        cells = neutralise_row(row)
        if self._bare_cr and any(isinstance(c, str) and "\r" in c for c in cells):
            return self._quoted.writerow(cells)
        return self._writer.writerow(cells)

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle: Writable, **options: Any) -> SafeWriter:
    return SafeWriter(handle, **options)


def reader(handle: Iterable[str], **options: Any) -> Iterator[list[str]]:
    """csv.reader with every cell restored; `line_num` is not available here (use
    `restore_row` on a csv.reader of your own when you need it)."""
    for row in csv.reader(handle, **options):
        yield restore_row(row)


_ESCAPED = frozenset(TRIGGERS | {QUOTE})


def restore_row(row: list[str]) -> list[str]:
    # Inline rather than restore() per cell: readers see up to a million rows.
    return [c[1:] if c[:1] == QUOTE and c[1:2] in _ESCAPED and len(c) > 1 else c for c in row]


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A download for people (finance lines, unbilled visits, problems, KPIs): RFC 4180 CSV
    (CRLF), UTF-8 with a byte-order mark so spreadsheets read names and £ correctly, every cell
    neutralised."""
    out = io.StringIO()
    safe = writer(out, lineterminator="\r\n")
    safe.writerow(header)
    safe.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
