"""`python -m benchmarks [--quick]`: every speed and memory benchmark, one JSON file per section
in benchmarks/results/ and a markdown summary, benchmarks/results/SUMMARY.md.

Sections: backtest throughput and peak RSS (ours, the signals-only floor, the backtrader peer;
benchmarks/backtest_speed.py), observation building (charts_speed.py), router latency
(router_speed.py), training step rates (train_speed.py) and `bot evaluate` on 1 against 2
workers (evaluate_speed.py). --quick shrinks the workloads (see each module) to run in a few
minutes; backtrader is installed into var/bench-deps on first use, never into the project.
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # rates are per core

from benchmarks import (  # noqa: E402
    backtest_speed,
    charts_speed,
    evaluate_speed,
    router_speed,
    summary,
    train_speed,
)
from benchmarks.common import PEER_DEPS, RESULTS, write_result  # noqa: E402

SECTIONS = {
    "backtest_speed": (backtest_speed.run, "bars/s counts traded bars; time includes loading"),
    "charts_speed": (charts_speed.run, "one thread; PNG level 1 as the dataset stores charts"),
    "router_speed": (router_speed.run, "milliseconds per decision, one CPU thread"),
    "train_speed": (train_speed.run, "steps/s include loading the model and encoding samples"),
    "evaluate_speed": (evaluate_speed.run, "bot evaluate in a fresh process, Ray start included"),
}


def _install_peer() -> None:
    if not (PEER_DEPS / "backtrader").exists():
        pip = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--target",
            str(PEER_DEPS),
            "backtrader",
        ]
        subprocess.run(pip, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="small workloads, a few minutes")
    parser.add_argument("--only", nargs="*", choices=list(SECTIONS), help="run these sections")
    args = parser.parse_args()
    _install_peer()
    suffix = "-quick" if args.quick else ""
    results = {}
    for name, (run, note) in SECTIONS.items():
        if args.only and name not in args.only:
            path = RESULTS / f"{name}{suffix}.json"
            results[name] = json.loads(path.read_text())["results"] if path.exists() else None
            continue
        began = time.perf_counter()
        results[name] = run(args.quick)
        path = write_result(f"{name}{suffix}", results[name], note)
        print(f"{name}: {time.perf_counter() - began:.0f} s -> {path}", flush=True)
    out = RESULTS / f"SUMMARY{suffix}.md"
    out.write_text(summary.markdown(results, args.quick))
    print(out.read_text())


if __name__ == "__main__":
    main()
