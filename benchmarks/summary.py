"""The markdown summary of a benchmark run (benchmarks/results/SUMMARY[-quick].md)."""

PEER_NOTE = (
    "Peer: the same eleven rules in backtrader 1.9 with uniform weights, per-strategy holdings "
    "and orders (fills at the close, 10 bps + 1 bp), but without pyramided layers, ATR stops, the "
    "router actor or the equity record, so it does less work per bar than ours. The floor is our "
    "engine on the same bars with policy single:Cash: every strategy computes its signal, none "
    "orders. Minute bars are synthetic (no minute history ships offline)."
)
MINUTE_BARS_A_YEAR = 525_600  # the crypto user: 24/7 minute bars
MEMORY_NOTE = (
    "Memory bound: bars stream into the engine in chunks of `BacktestRequest.stream_bars` (default "
    "20,000, `bot.engine.backtest_request.STREAM_BARS`), so the bar objects held at once are "
    "bounded by the chunk, not the run. Peak RSS is then the process base (nautilus, pandas, the "
    "strategies; ~350 MB here) + the loaded bar frame (~100 B a bar) + the chunk (~1 KB a bar) + "
    "the results (equity, per-strategy PnL, fills: ~1 KB a bar), i.e. it still grows by about 1 KB "
    "per traded bar for the recorded results, against ~2 KB per bar without streaming."
)


def markdown(results: dict, quick: bool) -> str:
    """The summary of every section present in `results`."""
    lines = [f"# Benchmarks{' (--quick)' if quick else ''}", ""]
    lines.append("Measured on a shared machine (see each JSON for it): rates are lower bounds.")
    if results.get("backtest_speed"):
        lines += _section("targets", _targets, results["backtest_speed"], results)
    for name, render in (
        ("backtest_speed", _backtests),
        ("charts_speed", _charts),
        ("router_speed", _router),
        ("train_speed", _train),
        ("evaluate_speed", _evaluate),
    ):
        if results.get(name):
            lines += _section(name, render, results[name])
    return "\n".join(lines) + "\n"


def _section(name: str, render, *args) -> list[str]:
    try:
        return ["", *render(*args)]
    except KeyError as missing:  # a JSON kept from a run of an older version
        return [
            "",
            f"## {name}",
            "",
            f"- a result lacks {missing}: its JSON was written by an older version; rerun its "
            "section (`python -m benchmarks --only SECTION`).",
        ]


def _targets(cases: list[dict], results: dict) -> list[str]:
    """Issue 21's targets against this run's figures, and where the time goes when missed."""
    train = results.get("train_speed")
    by = {(c["workload"], c["mode"]): c for c in cases}
    lines = [
        "## Targets (issue 21)",
        "",
        "| workload | ours / backtrader (target >= 3) | ours / floor (target >= 0.70) |",
        "|---|---|---|",
    ]
    for workload in dict.fromkeys(c["workload"] for c in cases):
        ours, peer, floor = (_rate(by[(workload, m)]) for m in ("ours", "peer", "floor"))
        lines.append(
            f"| {workload} | {ours / peer:.2f} {_verdict(ours / peer >= 3)} "
            f"| {ours / floor:.2f} {_verdict(ours / floor >= 0.7)} |"
        )
    minute = next(c for c in cases if c["mode"] == "ours" and "_1m" in c["workload"])
    lines.append("\n" + _minute_year(minute))
    if train:
        rate = train["dataset_samples_per_s"]
        lines.append(f"Dataset build: {rate} samples/s (target >= 50): {_verdict(rate >= 50)}.")
    lines += ["", *_what_stops(by, minute)]
    for profile in (c for c in cases if c["mode"] == "ours_profile"):
        parts = ", ".join(f"{name} {share:.0%}" for name, share in profile["by_part"].items())
        lines += [
            "",
            f"Where the time goes ({profile['workload']}, ours, under cProfile, "
            f"{profile['profiled_s']} s of own time): {parts}. nautilus' compiled code is "
            "invisible to cProfile: its time counts as the own time of the Python function that "
            "called it (`_run_chunks` runs the engine's loop). Top functions by own time:",
            "",
            "| function | own s | share | calls |",
            "|---|---|---|---|",
            *(
                f"| `{f['function']}` | {f['own_s']} | {f['share']:.1%} | {f['calls']} |"
                for f in profile["top_own_time"]
            ),
        ]
    return lines


def _what_stops(by: dict, minute: dict) -> list[str]:
    """For each missed backtest target, the part of the run that stops it, from this run's
    rates: the floor's (engine loop and signals, no orders) against the full run's (orders)."""
    lines = ["What stops the missed backtest targets (this run's CPU rates):"]
    workloads = dict.fromkeys(w for w, _ in by)
    for workload in workloads:
        ours, peer, floor = (_rate(by[(workload, m)]) for m in ("ours", "peer", "floor"))
        fills = by[(workload, "ours")]["fills"] / by[(workload, "ours")]["bars"]
        orders_us = (1 / ours - 1 / floor) * 1e6
        if ours / peer < 3:
            floor_vs_peer = floor / peer
            stop = (
                "the engine loop and the eleven signals alone"
                if floor_vs_peer < 3
                else "the orders (the floor alone would meet it)"
            )
            lines.append(
                f"- {workload}, ours / backtrader: the signals-only floor runs at "
                f"{floor_vs_peer:.2f}x backtrader, so {stop} stop it: the floor's "
                f"{1e6 / floor:.0f} us a bar (start-up and loading included) is nautilus' "
                "per-bar message bus, cache and clock (`_run_chunks`' own time) plus eleven "
                "strategies' Python (`signal`, `decide`, the shared indicators)."
            )
        if ours / floor < 0.7:
            lines.append(
                f"- {workload}, ours / floor: orders add {orders_us:.0f} us a bar ({fills:.2f} "
                f"fills a bar, {orders_us / fills:.0f} us a fill, if they cost it all): nautilus' "
                "order path (order factory, risk and execution engines, the simulated fill, "
                "position and account events to every strategy: `_submit_exact`'s and "
                "`_run_chunks`' own time) and the sizing every strategy does on every bar "
                "(`_rebalance`, `VenueEquity.value`), which the floor skips."
            )
    rate = _rate(minute)
    needed = MINUTE_BARS_A_YEAR / 180
    if rate < needed:
        floor = _rate(by[(minute["workload"], "floor")])
        stop = "the engine loop and signals alone" if floor < needed else "the orders"
        lines.append(
            f"- the year of minute bars in 3 min needs {needed:,.0f} bars a CPU second; ours "
            f"runs {rate:,.0f} and the floor {floor:,.0f}: {stop} (above) stop it."
        )
    return lines


def _minute_year(case: dict) -> str:
    """The year of minute bars: measured when the case traded one (the full run), else
    extrapolated from the case's rate (--quick), and labelled so."""
    if case["bars"] >= MINUTE_BARS_A_YEAR:
        cpu_min, wall_min = case["cpu_seconds"] / 60, case["seconds"] / 60
        return (
            f"A year of 1-minute bars, measured ({case['workload']}, {case['bars']:,} bars 24/7): "
            f"{cpu_min:.1f} min of CPU ({wall_min:.1f} min wall-clock on the shared machine) "
            f"(target < 3 min): {_verdict(cpu_min < 3)}."
        )
    year_min = MINUTE_BARS_A_YEAR / _rate(case) / 60
    return (
        f"A year of 1-minute bars (525,600), extrapolated from {case['workload']}'s rate "
        f"({case['bars']:,} bars; the full run measures the year): {year_min:.1f} min "
        f"(target < 3 min): {_verdict(year_min < 3)}."
    )


def _rate(case: dict) -> float:
    # Bars per CPU second where measured (older results: per wall-clock second).
    return case.get("bars_per_cpu_s") or case["bars_per_s"]


def _rates(case: dict) -> str:
    return f"{_rate(case):.0f} ({case['bars_per_s']:.0f})"


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _backtests(cases: list[dict]) -> list[str]:
    by = {(c["workload"], c["mode"]): c for c in cases}
    lines = [
        "## Backtest throughput (11 strategies + router, orders included)",
        "",
        "Bars per CPU second of each case's process (per wall-clock second in brackets; the "
        "machine is shared, so the CPU rates are the ones to compare).",
        "",
        "| workload | bars | ours bars/s | backtrader bars/s | ours / backtrader | floor bars/s "
        "| ours / floor | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload in dict.fromkeys(c["workload"] for c in cases):
        ours, peer, floor = (by[(workload, m)] for m in ("ours", "peer", "floor"))
        lines.append(
            f"| {workload} | {ours['bars']} | {_rates(ours)} | {_rates(peer)} "
            f"| {_rate(ours) / _rate(peer):.2f} | {_rates(floor)} "
            f"| {_rate(ours) / _rate(floor):.2f} | {ours['peak_rss_mb']:.0f} |"
        )
    for c in cases:
        if c["mode"] == "ours_ray":
            serial = by[(c["workload"], "ours")]
            lines.append(
                f"\nRay fan-out, {c['workload']}: {c['seconds']} s on local Ray "
                f"(start-up included) against {serial['seconds']} s serially."
            )
        if c["mode"] == "ours_unstreamed":
            streamed = by[(c["workload"], "ours")]
            lines.append(
                f"\nMinute bars, peak RSS: {streamed['peak_rss_mb']:.0f} MB streamed in chunks of "
                f"{streamed['stream_bars']} bars against {c['peak_rss_mb']:.0f} MB loaded at once."
            )
    lines += [
        f"\nPeak RSS, {c['workload']}: {c['peak_rss_mb']:.0f} MB for {c['bars']:,} bars and "
        f"{c['fills']:,} fills ({c['peak_rss_mb'] * 1024 / c['bars']:.1f} KB a bar): beyond the "
        "streamed bars, nautilus' cache keeps every order, fill and position of the run."
        for c in cases
        if c["mode"] == "ours" and c["bars"] >= MINUTE_BARS_A_YEAR
    ]
    return [*lines, "", PEER_NOTE, "", MEMORY_NOTE]


def _charts(r: dict) -> list[str]:
    pairs, stage = r["chart_pairs_per_s_per_core"], r["dataset_stage_decisions_per_s_per_core"]
    full = r["full_dataset_60x2000_minutes_per_core"]
    return [
        "## Observation building (one core)",
        "",
        f"- chart view pairs/s: fast {pairs['fast']}, mplfinance {pairs['mplfinance']} "
        f"({r['chart_speedup']}x)",
        f"- feature sets (17 x 100) /s: {r['feature_sets_per_s_per_core']}",
        f"- dataset observation stage, decisions/s: fast {stage['fast']}, mplfinance "
        f"{stage['mplfinance']}: **{r['dataset_stage_speedup']}x faster** with the fast renderer",
        f"- 60 instruments x 2,000 decisions: {full['fast']} min per core fast, "
        f"{full['mplfinance']} min with mplfinance",
    ]


def _router(r: dict) -> list[str]:
    lines = ["## Router latency (ms)", "", "| what | p50 | p99 |", "|---|---|---|"]
    for name, value in r.items():
        if isinstance(value, dict):
            lines.append(f"| {name} | {value['p50_ms']} | {value['p99_ms']} |")
        else:
            lines.append(f"| {name} | {value} | |")
    return lines


def _train(r: dict) -> list[str]:
    return [
        f"## Training ({r['device']}, {r['threads']} threads)",
        "",
        f"- dataset build: {r['dataset_samples_per_s']} samples/s on one core from scratch "
        f"({r['dataset_samples']} samples, {r['dataset_backtests_s']} s of it the eleven strategy "
        f"backtests), {r['dataset_samples_per_s_2_workers']} on two Ray workers (Ray start "
        f"included), {r['dataset_samples_per_s_from_cache']} from the return-path cache",
        *(
            f"- {name}: SFT {r[name]['sft_steps_per_s_incl_setup']} steps/s, "
            f"PPO {r[name]['ppo_steps_per_s_incl_setup']} steps/s"
            for name in ("compact", "hf_tiny_qwen")
        ),
    ]


def _evaluate(r: dict) -> list[str]:
    return [
        "## bot evaluate on Ray",
        "",
        f"- {r['backtests']} backtests ({', '.join(r['symbols'])}): --workers 1 "
        f"{r['workers_1_s']} s, --workers 2 {r['workers_2_s']} s ({r['speedup']}x); "
        f"identical numbers: {r['identical_numbers']}",
    ]
