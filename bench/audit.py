"""Audited-mode benchmark: compute, honest acceptance and impostor detection of the audited mode.

Compute of the executor and of one auditor against one unverified generation timed in the same
run (tiny-sd 64 px / 20 and 40 steps, SmolLM2-135M / 32 tokens), honest acceptance at the
calibrated noise and the detection of each impostor, as the chain compares: the sketches of one
challenged leaf, four 64-bit lanes, one lane tolerance T per model (``lane_tolerance``);
``honest_accept`` is an honest executor within T of an honest auditor,
``honest_resolved`` the majority of executor + 2 auditors resolving for it, ``detection`` the
impostor outvoted by the two auditors.

By default a quick fresh study runs first (tiny-sd 64 px / 10 steps and Digits-Gen 20 steps on
4 seeds, tiny-llama on 8 prompts; the costs over as many rounds as the full study's: about four
minutes); ``--stored`` prints the figures of the full study (``genoracle study audit``,
reports/study/audit-results.json) without running anything. ``gas_audited_task`` (one audited task
with 2 auditors: request, draws, submission, two commits, the aggregated opening that resolves) is
measured on a fresh Anvil by bench.audit_gas unless ``--no-gas``. Prints tables, then one JSON
line {"bench": "audit", ...}.

    python -m bench.audit [--stored [PATH]]      (make bench-audit)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.audit_gas import measure as measure_gas
from inference.study.audit import QUICK, run_audit_study
from inference.study.audit_report import figures, tables

STORED = Path("reports/study/audit-results.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--stored",
        nargs="?",
        const=STORED,
        type=Path,
        default=None,
        help=f"print the full study's stored figures (default {STORED})",
    )
    parser.add_argument(
        "--no-gas", action="store_true", help="skip the gas measurement on Anvil (bench.audit_gas)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.stored is not None:
        if not args.stored.is_file():
            raise SystemExit(f"{args.stored} not found: run `genoracle study audit` first")
        results = json.loads(args.stored.read_text())
        source = f"stored full study {args.stored}"
    else:
        results = run_audit_study(QUICK, lambda line: print(line, file=sys.stderr, flush=True))
        source = "quick fresh study"
    print(f"audited mode ({source})")
    print("\n".join(tables(results)))
    record = {"bench": "audit", "source": source, **figures(results)}
    if not args.no_gas:
        gas = measure_gas(tasks=3)
        print(
            f"gas_audited_task: {gas['gas_audited_task']:,} (2 auditors, lazy draws; "
            f"{gas['gas_audited_task_keeper_draws']:,} with keeper draws)"
        )
        record.update(gas)
        record["gas_note"] = "bench.audit_gas on Anvil: medians of 3 tasks, 2 auditors"
    record["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
