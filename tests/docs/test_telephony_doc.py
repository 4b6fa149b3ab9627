"""docs/telephony.md tells a council what a caller hears and what the call log records: its
refusal table and call table are held to the code, so a new refusal or a reworded answer cannot
leave the page behind."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from core.settings import Settings
from gateway.telephony import calls, twiml
from gateway.telephony.calls import Refusal
from gateway.telephony.webhook import PATHS, STATUS_PATH

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "telephony.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(f"\n{title}\n")
    end = DOC.find("\n#", start + len(title) + 2)
    return DOC[start : end if end >= 0 else None]


def _table_rows(section: str) -> list[list[str]]:
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]
    return [row for row in cells[2:] if row]  # past the header and its rule


def _spoken_patterns() -> list[re.Pattern[str]]:
    """Every text the call desk can speak, from the source: plain strings as they are, f-strings
    with each placeholder matching anything ("Checked in at {time}" matches "at 07:31")."""
    patterns: list[re.Pattern[str]] = []
    for module in (calls, twiml):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                patterns.append(re.compile(re.escape(node.value)))
            elif isinstance(node, ast.JoinedStr):
                literal = [
                    part.value
                    for part in node.values
                    if isinstance(part, ast.Constant) and isinstance(part.value, str)
                ]
                # f"{said} {SAY['again']}" would match any sentence: words only from the
                # texts it joins.
                if len("".join(literal).strip()) < 10:
                    continue
                parts = [
                    re.escape(part.value)
                    if isinstance(part, ast.Constant) and isinstance(part.value, str)
                    else ".+?"
                    for part in node.values
                ]
                patterns.append(re.compile("".join(parts)))
    return patterns


def _quoted(cell: str) -> list[str]:
    return re.findall(r'"([^"]+)"', cell)


def _said_by_the_code(sentence: str, patterns: list[re.Pattern[str]]) -> bool:
    """The sentence is one the code says, alone or followed by the rest of its answer (the
    table quotes "That carer number and PIN do not match." and the try's prompt after it)."""
    return any(p.fullmatch(sentence) for p in patterns) or _joined(sentence, patterns)


def _joined(sentence: str, patterns: list[re.Pattern[str]]) -> bool:
    # A spoken answer built from two texts: `SAY["mismatch"]` then `SAY["again"]`.
    return any(
        (m := p.match(sentence))
        and m.end() < len(sentence)
        and _said_by_the_code(sentence[m.end() :].lstrip(), patterns)
        for p in patterns
        if p.pattern
    )


def test_every_refusal_is_in_the_table_and_every_row_is_a_refusal() -> None:
    rows = _table_rows(_section("### Refusals"))
    named = [row[0].strip("`") for row in rows if row[0].startswith("`")]
    assert sorted(named) == sorted(r.value for r in Refusal)
    assert len(named) == len(set(named))


def test_what_the_caller_hears_is_what_the_code_says() -> None:
    patterns = _spoken_patterns()
    checked = 0
    for section in ("### Refusals", "## The call"):
        for row in _table_rows(_section(section)):
            heard = row[-1] if section == "### Refusals" else row[0]
            for sentence in _quoted(heard):
                if sentence in {"anonymous"}:  # Twilio's name for a withheld number, not speech
                    continue
                assert _said_by_the_code(sentence, patterns), sentence
                checked += 1
    # Every refusal but the ones the caller hears nothing of, or the same words as another,
    # plus the try, plus the call's four answers.
    assert checked >= len(Refusal) - 2 + 1 + 4


def test_the_settings_and_paths_the_page_names_exist() -> None:
    fields = {f"ECM_{name.upper()}" for name in Settings.model_fields}
    for setting in set(re.findall(r"ECM_TELEPHONY_[A-Z_]+", DOC)):
        assert setting in fields, setting
    # The settings table gives every telephony setting, with its default.
    for name, field in Settings.model_fields.items():
        if name.startswith("telephony_") and name not in {"telephony_host", "telephony_port"}:
            assert f"| `ECM_{name.upper()}` |" in DOC, name
            if isinstance(field.default, int) and not isinstance(field.default, bool):
                row = DOC.split(f"| `ECM_{name.upper()}` |", 1)[1].split("\n", 1)[0]
                assert row.rstrip().endswith(f"| `{field.default}` |"), (name, row)
    for path in (*PATHS.values(), STATUS_PATH):
        assert f"`POST https://<your ECM host>{path}`" in DOC or f"`{path}`" in DOC, path
