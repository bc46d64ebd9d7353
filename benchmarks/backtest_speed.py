"""Backtest throughput and peak RSS: ours (eleven strategies plus the router), the signals-only
floor (the same engine and bars, policy single:Cash, so every strategy computes its signal on
every bar but none orders) and the backtrader peer (benchmarks/peer_backtrader.py), on the
workloads of benchmarks/workloads.py. Each case runs in a fresh process; bars/s counts the
traded bars and the time includes loading the bars and building the engine. The multi-instrument
workload also runs through the Ray fan-out (one engine per task), and the minute workload also
without streaming, to show what streaming saves.
"""

import argparse
import json
import time
from dataclasses import replace

from benchmarks.common import in_subprocess, peak_rss_mb
from benchmarks.workloads import prepare, requests

MODES = ("ours", "floor", "peer")
UNSTREAMED = 10**9  # one chunk: the whole run loaded at once


def measure(workload: str, mode: str, quick: bool) -> dict:
    """Run one workload in one mode in this process."""
    runs = requests(quick)[workload]
    began = time.perf_counter()
    if mode == "peer":
        bars, fills = _peer(runs)
    elif mode == "ours_ray":
        from bot.core.parallel import Parallel
        from bot.engine.backtest import run_many
        from bot.model.policy import load_policy

        results = run_many(runs, Parallel(workers=0), load_policy)
        bars, fills = sum(len(r.bars) for r in results), sum(len(r.fills) for r in results)
    else:
        bars, fills = _ours(runs, mode)
    seconds = time.perf_counter() - began
    return {
        "workload": workload,
        "mode": mode,
        "instruments": len(runs),
        "bars": bars,
        "fills": fills,
        "seconds": round(seconds, 2),
        "bars_per_s": round(bars / seconds, 1),
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
        modes = list(MODES)
        if len(runs) > 1:
            modes.append("ours_ray")
        if runs[0].bar == "1m":
            modes.append("ours_unstreamed")
        for mode in modes:
            cases.append(in_subprocess("backtest_speed", "--case", workload, mode, *flag))
            print(json.dumps(cases[-1]), flush=True)
    return cases


def _main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2, required=True, metavar=("WORKLOAD", "MODE"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(measure(*args.case, quick=args.quick)))


if __name__ == "__main__":
    _main()
