"""Run the benchmarks in this folder and print each figure beside its same-run baseline.

Usage: python benchmarks/run.py [--only camera ...] [--quick] [--json FILE]   (or `make bench`, `facelift bench`)
Each `bench_<name>.py` defines `run(quick: bool) -> list[dict]` with keys
name, value, unit, baseline, baseline_name, target (value >= target is met; None: information only).
`--json FILE` also writes every row, with its benchmark's name and whether its target was met, to FILE (atomically).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"facelift_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def main(only: list[str] | None = None, quick: bool = False, json_path: str | None = None) -> int:
    found = discover()
    unknown = sorted(set(only or []) - set(found))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(found)}", file=sys.stderr)
        return 2
    print(
        f"# FaceLift benchmarks: python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {'quick' if quick else 'full'} sizes"
    )
    missed, records = 0, []
    for name in only or found:
        t0 = time.perf_counter()
        rows = _load(found[name]).run(quick=quick)
        print(f"\n## {name} ({time.perf_counter() - t0:.1f} s)")
        print(f"{'measure':44s} {'value':>14s} {'baseline':>14s} {'speed-up':>9s} {'target':>12s}  unit")
        for r in rows:
            speedup = r["value"] / r["baseline"] if r.get("baseline") else None
            target = r.get("target")
            reached = None if target is None else bool(r["value"] >= target)
            met = {None: "", True: "  met", False: "  MISSED"}[reached]
            missed += reached is False
            records.append(dict(benchmark=name, **r, met=reached))
            print(
                f"{r['name']:44s} {_fmt(r['value']):>14s} {_fmt(r.get('baseline')):>14s} "
                f"{(f'{speedup:.{0 if speedup >= 10 else 1}f}x' if speedup else '-'):>9s} {_fmt(target):>12s}  {r['unit']}{met}"
            )
            if r.get("baseline_name"):
                print(f"{'':44s} baseline: {r['baseline_name']}")
    print(f"\n{missed} target(s) missed")
    if json_path:
        _write_json(
            Path(json_path), dict(python=platform.python_version(), torch=torch.__version__, quick=quick, rows=records)
        )
    return 0


def _write_json(path: Path, data: dict) -> None:
    "Write `data` as JSON to `path` through a temp file and a rename."
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the rows to FILE as JSON")
    a = ap.parse_args()
    sys.exit(main(a.only, a.quick, a.json))
