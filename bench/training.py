"""Training benchmark (issue 16): rounds of verifiable fine-tuning of Digits-Gen, and their gas.

By default a fresh bench-sized study runs (one task, 3 rounds of 10 steps, 5 honest members and
5 impostors, with and without synchronisation: about two minutes on one core); ``--stored`` prints
the figures of the full study (``genoracle study training``, reports/study/training-results.json)
without running anything, ``--quick`` runs the tests' tiny plan. Prints tables, then one JSON line
{"bench": "training", "rounds", "round_seconds", "honest_round_accept": {"sync", "no_sync"},
"detected": {...}, "gas_per_round"}. ``gas_per_round`` is measured on an embedded Anvil by
bench/training_gas.py (TrainingTasks, a committee of 3: the median over 3 tasks of a round's
commits, reveal and resolution); ``--no-gas`` leaves it null. A one-task run is judged at the
shipped ROUND_TOLERANCE, which the full study calibrated on one task and judged on two others.

    python -m bench.training [--stored [PATH] | --quick] [--no-gas]      (make bench-training)
"""

from __future__ import annotations

import os

# OpenMP threads that spin-wait for a busy core make the 2-thread member 10-20x slower on a
# shared machine; passive waiting changes no result. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import sys
import time
from pathlib import Path

STORED = Path("reports/study/training-results.json")


def main(argv: list[str] | None = None) -> int:
    from inference.study.training import BENCH, QUICK, run_training_study
    from inference.study.training_report import analyse, figures, tables

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--stored",
        nargs="?",
        const=STORED,
        type=Path,
        default=None,
        help=f"print the full study's stored figures (default {STORED})",
    )
    parser.add_argument("--quick", action="store_true", help="the tests' tiny plan")
    parser.add_argument("--no-gas", action="store_true", help="skip the gas measurement (Anvil)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.stored is not None:
        if not args.stored.is_file():
            raise SystemExit(f"{args.stored} not found: run `genoracle study training` first")
        results = json.loads(args.stored.read_text())
        source = f"stored full study {args.stored}"
    else:
        plan = QUICK if args.quick else BENCH
        results = run_training_study(plan, lambda line: print(line, file=sys.stderr, flush=True))
        source = "quick fresh study" if args.quick else "fresh bench study"
    analysis = analyse(results)
    print(
        f"verifiable fine-tuning ({source}), tolerance {analysis['tolerance']} "
        f"({analysis['tolerance_source']})"
    )
    print("\n".join(tables(results, analysis)))
    record = {"bench": "training", "source": source, **figures(results, analysis)}
    if not args.no_gas:
        from bench.training_gas import measure

        gas = measure()
        print(f"gas_per_round: {gas['gas_per_round']:,} ({gas['gas_training_steps']})")
        record["gas_per_round"] = gas["gas_per_round"]
    record["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
