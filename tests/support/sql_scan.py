"""Where SQL is written: every string literal (f-strings included, docstrings not) that reads as
a SQL statement, per source file. The rule (docs/architecture.md): SQL lives only in repository
and store modules; tests/test_layout.py holds the code to it.

    .venv/bin/python -m tests.support.sql_scan      # every file with SQL, and where it may be
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The production packages (tests and benchmarks read the database to check it, and may).
PACKAGES = (
    "core",
    "ecm",
    "gateway",
    "ingest",
    "api",
    "visits",
    "reconciliation",
    "retention",
    "commissioning",
    "firmware-sim",
)

_STATEMENT = re.compile(
    r"^[\s(]*("
    r"select\b[\s\S]*\bfrom\b"
    r"|select\s+(pg_\w+|1|exists|count|coalesce|clock_timestamp|now)\b"
    r"|insert\s+into\b|update\s+\w+\s+set\b|delete\s+from\b|with\s+\w+\s+as\s*\("
    r"|create\s+(table|index|unique|extension|trigger|function|schema|role|database|or\s+replace)\b"
    r"|drop\s+(table|index|trigger|function|role|database)\b|alter\s+(table|role|database)\b"
    r"|truncate\b|copy\s+\w+|lock\s+table\b"
    r")",
    re.IGNORECASE,
)

# Modules that may hold SQL by their name: the repository or store of their package.
STORE_NAMES = re.compile(r"^(repository|store|\w+_store|\w+_repository)$")

# SQL outside a store module, each with why it stays for now. tests/test_layout.py fails when
# one of these no longer has SQL, so the list only shrinks.
EXCEPTIONS = {
    # Plumbing, not a domain: the start-up probe and the local server's first database.
    "core/db.py": "wait_for_database's `select 1` probe",
    "ecm/services/postgres.py": "creates the local stack's database",
    # The device's own SQLite outbox on the handset, not the server's database.
    "firmware-sim/firmware_sim/outbox.py": "the simulated handset's own SQLite store",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_literals(path: Path) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            literal = node.value
        elif isinstance(node, ast.JoinedStr):
            literal = "".join(
                str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
        else:
            continue
        if _STATEMENT.search(literal):
            count += 1
    return count


def scan() -> Counter[str]:
    """SQL literals per production source file (migrations excluded: they are SQL by nature)."""
    counts: Counter[str] = Counter()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            found = sql_literals(path)
            if found:
                counts[relative.as_posix()] = found
    return counts


def is_store(relative: str) -> bool:
    return bool(STORE_NAMES.match(Path(relative).stem))


def main() -> None:
    counts = scan()
    stores = {f: n for f, n in counts.items() if is_store(f)}
    excepted = {f: n for f, n in counts.items() if f in EXCEPTIONS and not is_store(f)}
    elsewhere = {f: n for f, n in counts.items() if f not in stores and f not in excepted}
    for title, group in (("stores", stores), ("exceptions", excepted), ("elsewhere", elsewhere)):
        print(f"{title}: {sum(group.values())} SQL literals in {len(group)} files")
        for file, n in sorted(group.items()):
            note = f"  ({EXCEPTIONS[file]})" if file in EXCEPTIONS else ""
            print(f"  {n:4d}  {file}{note}")


if __name__ == "__main__":
    main()
