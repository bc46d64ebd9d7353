"""Per-bar target exposures of the eleven strategies on a bundled symbol, and how two
implementations' differ: the check that the incremental indicators (issue 21) decide as the
windowed ta-lib ones did.

It imports `strategies` from the first entry of the path, so to compare two checkouts run it
once in each, the old one first:

    cd OLD && PYTHONPATH=. python NEW/benchmarks/signal_diff.py --out /tmp/old.npz
    cd NEW && python -m benchmarks.signal_diff --out /tmp/new.npz --against /tmp/old.npz
"""

import argparse

import numpy as np

from bot.engine.catalog import bar_type_for, to_nautilus_bars
from bot.engine.data import dataset_asset_class, load_bars
from bot.engine.instruments import make_instrument
from strategies import build_strategies


def exposures(symbol: str, bar: str = "1d") -> dict[str, np.ndarray]:
    """Strategy name -> its target exposure after each bar of `symbol`'s bundled history."""
    instrument = make_instrument(symbol, dataset_asset_class(symbol, bar))
    bars = to_nautilus_bars(load_bars(symbol, bar), instrument, bar)
    strategies = build_strategies(instrument.id, bar_type_for(instrument, bar))
    per_bar = np.array([[s.signal(b) for s in strategies] for b in bars])
    return {s.name: per_bar[:, i] for i, s in enumerate(strategies)}


def differing_bars(new: dict, old: dict) -> dict[str, list[int]]:
    """Strategy name -> the bars where the two exposures differ."""
    return {name: np.flatnonzero(new[name] != old[name]).tolist() for name in new}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="SPX")
    parser.add_argument("--out", required=True, help="where to save this checkout's exposures")
    parser.add_argument("--against", help="exposures saved from the other checkout")
    args = parser.parse_args()
    mine = exposures(args.symbol)
    np.savez(args.out, **mine)
    if args.against:
        with np.load(args.against) as theirs:
            diff = differing_bars(mine, dict(theirs))
        bars = len(next(iter(mine.values())))
        for name, where in diff.items():
            print(f"{name:15s} {len(where):5d} of {bars} bars differ  {where[:10]}")


if __name__ == "__main__":
    main()
