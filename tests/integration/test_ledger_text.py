"""Text one backend cannot store, neither accepts: a NUL character is refused at validation,
with the field named, before anything is written or sent, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import pytest

import seedance_nb as sd
from seedance_nb.ledger import FIELDS, Ledger
from seedance_nb.ledger._schema import INTS, TIMES

TEXT = [n for n in FIELDS if n not in (*INTS, *TIMES, "status")]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    target = (
        str(tmp_path / "ledger.sqlite")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with Ledger(target) as ledger:
        yield ledger


@pytest.mark.parametrize("name", TEXT)
def test_nul_in_every_text_field_is_refused_with_its_name(ledger, name):
    fields = {"experiment": "e", name: '{"a": "x\x00y"}' if name == "params" else "x\x00y"}
    with pytest.raises(ValueError, match=f"^{name}: .*NUL"):
        ledger.log(**fields)
    with pytest.raises(ValueError, match=f"^{name}: .*NUL"):
        ledger.log_once(**{"fingerprint": "f", **fields})
    assert len(ledger) == 0  # nothing written
    row = ledger.log(experiment="e")
    with pytest.raises(ValueError, match=f"^{name}: .*NUL"):
        ledger.update(row, **{name: fields[name]})
    assert ledger.get(row)[name] in (None, "e")  # unchanged
    # the same text without the NUL goes in on both backends, RTL marks and all
    ledger.update(row, **{name: '{"a": "x\u200fy"}' if name == "params" else "x\u200fy ✓"})


def test_params_as_data_may_hold_an_escaped_nul(ledger):
    """JSON escapes it (\\u0000): stored as text that both backends keep."""
    row = ledger.log(experiment="e", params={"inputs": {"prompt": "a\x00b"}})
    assert "\\u0000" in ledger.get(row)["params"]


def test_a_prompt_with_nul_is_refused_before_anything_is_sent():
    with pytest.raises(sd.ValidationError) as info:
        sd.TextToVideo("a dog\x00 on a beach")
    assert info.value.field == "prompt" and "NUL" in info.value.rule
    assert sd.TextToVideo("a dog \u200fon a beach").prompt


def test_the_ledger_spells_no_status_as_a_string():
    """One vocabulary: outside api/_status.py the ledger refers to statuses through JobStatus
    and the sets derived from it, never as quoted names."""
    import re
    from pathlib import Path

    from seedance_nb.api import JobStatus

    names = "|".join(s.value for s in JobStatus)
    quoted = re.compile(rf"""["']({names})["']""")
    ledger = Path(sd.__file__).parent / "ledger"
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(ledger.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if quoted.search(line)
    ]
    assert found == []
