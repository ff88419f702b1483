"""`facelift bench --quick`: every benchmark runs end to end and reports figures beside its same-run baseline.
A smoke of the suite, not a timing: no wall-clock threshold is asserted (benchmarks report figures; tests do not time)."""

import json
import math

import pytest

from conftest import REPO, run


@pytest.mark.slow
def test_quick_bench_runs_every_section_and_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    r = run("facelift", "bench", "--quick", "--json", out, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True
    sections = {p.stem.removeprefix("bench_") for p in (REPO / "benchmarks").glob("bench_*.py")}
    rows = {s: [row for row in report["rows"] if row["benchmark"] == s] for s in sections}
    assert all(rows.values()), {s: len(v) for s, v in rows.items()}  # every section produced rows
    for row in report["rows"]:
        assert math.isfinite(row["value"]) and row["value"] > 0, row  # a measured figure, not a placeholder
        assert row.get("baseline") is None or row["baseline"] > 0, row
        assert (row["met"] is None) == (row.get("target") is None), row  # a target is checked where one is set
    assert f"## {sorted(sections)[0]}" in r.stdout and "target(s) missed" in r.stdout  # the printed table
