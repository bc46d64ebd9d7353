"""Backtest throughput and memory: all eleven strategies plus the router, one instrument.

Each case runs in a fresh subprocess (nautilus engines are not reusable and leak memory), which
reports bars/s and its peak RSS. Results go to benchmarks/results/backtest_speed.json.

    python benchmarks/backtest_speed.py
"""

import json
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

CASES = {
    "SPX_1d_10y": dict(symbol="SPX", bar="1d", start=date(2014, 6, 26), end=date(2024, 6, 26)),
    "EURUSD_1h_1y": dict(symbol="EURUSD", bar="1h", start=date(2017, 1, 2), end=date(2017, 12, 29)),
}
OUT = Path(__file__).parent / "results" / "backtest_speed.json"


def run_case(name: str) -> dict:
    from bot.backtest import BacktestRequest, run_backtest

    request = BacktestRequest(policy="uniform", **CASES[name])
    began = time.perf_counter()
    result = run_backtest(request)
    seconds = time.perf_counter() - began
    bars = len(result.bars)
    return {
        "case": name,
        "bars": bars,
        "fills": len(result.fills),
        "seconds": round(seconds, 3),
        "bars_per_s": round(bars / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(run_case(sys.argv[2])))
        return
    results = []
    for name in CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--case", name], capture_output=True, text=True, check=True
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(results[-1])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "python": platform.python_version(),
                "note": "bars_per_s counts the traded bars; the time includes building the engine",
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
