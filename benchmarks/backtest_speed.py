"""Backtest throughput and peak RSS: ours (eleven strategies plus the router), the signals-only
floor (the same engine and bars, policy single:Cash, so every strategy computes its signal on
every bar but none orders) and the backtrader peer (benchmarks/peer_backtrader.py), on the
workloads of benchmarks/workloads.py. Each case runs in a fresh process; bars/s counts the
traded bars and the time includes loading the bars and building the engine. The multi-instrument
workload also runs through the Ray fan-out (one engine per task), and the --quick minute workload
also without streaming, to show what streaming saves. The first workload (and the --quick minute
workload) also runs once under cProfile ("ours_profile"): where its time goes, by function and
by part of the code.
"""

import argparse
import cProfile
import json
import pstats
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.common import in_subprocess, peak_rss_mb
from benchmarks.workloads import prepare, requests

ROOT = Path(__file__).resolve().parents[1]
MODES = ("ours", "floor", "peer")
TOP = 12  # functions listed from the profile
# Which part of the code a profiled function belongs to, by its file's path.
PARTS = (
    ("nautilus engine", "nautilus_trader"),
    ("strategies", "/strategies/"),
    ("bot (router, sizing, data)", "/bot/"),
    ("numpy / pandas / ta-lib", ("numpy", "pandas", "talib")),
)
UNSTREAMED = 10**9  # one chunk: the whole run loaded at once


def measure(workload: str, mode: str, quick: bool) -> dict:
    """Run one workload in one mode in this process."""
    runs = requests(quick)[workload]
    began, cpu_began = time.perf_counter(), time.process_time()
    if mode == "peer":
        bars, fills = _peer(runs)
    elif mode == "ours_profile":
        return _profiled(workload, runs)
    elif mode == "ours_ray":
        from bot.core.parallel import Parallel
        from bot.engine.backtest import run_many
        from bot.model.policy import load_policy

        results = run_many(runs, Parallel(workers=0), load_policy)
        bars, fills = sum(len(r.bars) for r in results), sum(len(r.fills) for r in results)
    else:
        bars, fills = _ours(runs, mode)
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu_began  # this process only: Ray's workers are not in it
    return {
        "workload": workload,
        "mode": mode,
        "instruments": len(runs),
        "bars": bars,
        "fills": fills,
        "seconds": round(seconds, 2),
        "bars_per_s": round(bars / seconds, 1),
        "cpu_seconds": round(cpu, 2),
        "bars_per_cpu_s": round(bars / cpu, 1),
        "peak_rss_mb": peak_rss_mb(),
        "stream_bars": runs[0].stream_bars if mode != "ours_unstreamed" else None,
    }


def _ours(runs: list, mode: str) -> tuple[int, int]:
    from bot.engine.backtest import run_backtest
    from bot.model.policy import load_policy

    policy = "single:Cash" if mode == "floor" else "uniform"
    bars = fills = 0
    for request in runs:
        if mode == "ours_unstreamed":
            request = replace(request, stream_bars=UNSTREAMED)
        result = run_backtest(replace(request, policy=policy), load_policy)
        bars, fills = bars + len(result.bars), fills + len(result.fills)
    return bars, fills


def _profiled(workload: str, runs: list) -> dict:
    profiler = cProfile.Profile()
    profiler.enable()
    bars, _ = _ours(runs, "ours")
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (calls, _, own s, cumulative s, _)
    total = sum(row[2] for row in stats.values())
    rows = sorted(stats.items(), key=lambda item: -item[1][2])
    parts = dict.fromkeys([name for name, _ in PARTS] + ["other"], 0.0)
    for (path, _, _), row in stats.items():
        parts[_part(path)] += row[2]
    return {
        "workload": workload,
        "mode": "ours_profile",
        "bars": bars,
        "profiled_s": round(total, 2),
        "by_part": {name: round(own / total, 3) for name, own in parts.items()},
        "top_own_time": [
            {"function": f"{_short(path)}:{line}({name})", "own_s": round(row[2], 3),
             "share": round(row[2] / total, 3), "calls": row[1]}
            for (path, line, name), row in rows[:TOP]
        ],
    }  # fmt: skip


def _part(path: str) -> str:
    for name, marks in PARTS:
        if any(mark in path for mark in ((marks,) if isinstance(marks, str) else marks)):
            return name
    return "other"


def _short(path: str) -> str:
    if path.startswith(str(ROOT)):
        return str(Path(path).relative_to(ROOT))
    return path.split("site-packages/", 1)[-1]


def _peer(runs: list) -> tuple[int, int]:
    import pandas as pd

    from benchmarks.peer_backtrader import run_peer
    from bot.core.features import REQUIRED_BARS
    from bot.engine.data import load_bars

    bars = fills = 0
    for r in runs:
        frame = load_bars(r.symbol, r.bar, policy=r.data_policy, catalog_dir=r.catalog)
        start, end = pd.Timestamp(r.start, tz="UTC"), pd.Timestamp(r.end, tz="UTC")
        traded = frame[(frame.index >= start) & (frame.index <= end)]
        warmup = frame[frame.index < start].tail(REQUIRED_BARS)  # the warm-up ours feeds too
        fills += run_peer(pd.concat([warmup, traded]))["fills"]
        bars += len(traded)
    return bars, fills


def run(quick: bool) -> list[dict]:
    """Every workload in every mode, each in a fresh process."""
    prepare(quick)
    flag = ["--quick"] if quick else []
    cases = []
    for workload, runs in requests(quick).items():
        minute = runs[0].bar == "1m"
        modes = list(MODES)
        if len(runs) > 1:
            modes.append("ours_ray")
        if minute and quick:
            # a year unstreamed would hold ~1 GB of bars and take another quarter hour
            modes.append("ours_unstreamed")
        if not cases or (minute and quick):
            modes.append("ours_profile")
        for mode in modes:
            # the full run's minute year takes 5-15 min a case on a shared machine
            timeout = 3600 if minute and not quick else 900
            case = in_subprocess("backtest_speed", "--case", workload, mode, *flag, timeout=timeout)
            cases.append(case)
            print(json.dumps(case), flush=True)
    return cases


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2, required=True, metavar=("WORKLOAD", "MODE"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(*args.case, quick=args.quick)))


if __name__ == "__main__":
    _main()
