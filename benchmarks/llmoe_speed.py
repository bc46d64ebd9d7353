"""LLMoE router speed on CPU with the real SmolLM2-135M-Instruct GGUF: the time to classify a
2-year daily test window (about 504 trading days, label likelihoods plus a one-sentence
rationale each), the model load included. Results go to benchmarks/results/llmoe_speed.json.

    python benchmarks/llmoe_speed.py [--symbol MSFT] [--cache DIR]    # on a quiet machine

The routings go to the cache named by --cache (default: a fresh temporary folder, so that
every prompt is really computed); `bot evaluate --system llmoe` reuses them when it is pointed
at the same folder. A rerun on a full cache measures nothing and says so.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.llmoe.dataset import DataConfig, load_symbol  # noqa: E402
from training.llmoe.llm import LLMConfig, LLMRouter  # noqa: E402
from training.llmoe.prompt import LABELS, build_prompts  # noqa: E402

OUT = Path(__file__).parent / "results" / "llmoe_speed.json"
LIMIT_S = 15 * 60  # the acceptance bound for a 2-year window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="MSFT")
    parser.add_argument("--cache", default="")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--days", type=int, default=0, help="Time only the first N days and extrapolate (0: all)."
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_symbol(args.symbol, DataConfig())
    window = build_prompts(args.symbol, data.test, data.bars.index, None)
    prompts = window[: args.days] if args.days else window
    with tempfile.TemporaryDirectory() as scratch:
        router = LLMRouter(LLMConfig(cache_dir=args.cache or scratch))
        load_s = router.load()
        routings = router.route(prompts, rationale=True)
        router.close()
    per_day = router.seconds / max(router.computed, 1)
    total = load_s + per_day * len(window)
    if router.computed < len(prompts):
        print(f"{len(prompts) - router.computed} prompts came from the cache: not a timing.")
    load_average = os.getloadavg()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, shared",
        "load_average_1_5_15": [round(x, 2) for x in load_average],
        "torch_threads": args.threads,
        "model": str(router.source.name),
        "model_sha256": router.model_hash,
        "dtype": router.config.dtype,
        "symbol": args.symbol,
        "window": f"{data.test.days[0]:%Y-%m-%d} .. {data.test.days[-1]:%Y-%m-%d}",
        "trading_days": len(window),
        "days_timed": router.computed,
        "extrapolated": router.computed < len(window),
        "load_s": round(load_s, 1),
        "seconds_per_day": round(per_day, 3),
        "seconds_for_window_with_load": round(total, 1),
        "under_15_minutes": total < LIMIT_S,
        "label_share": {
            label: round(sum(r.label == label for r in routings) / len(routings), 3)
            for label in LABELS
        },
        "example_rationale": routings[-1].rationale,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
