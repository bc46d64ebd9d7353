"""`bot explain`: read the journal back as text a person can check, and plots.

`explain_decision` describes one decision: its chart, weights and per-expert choices, regime,
the strongest input attributions (model policies only) and each strategy's PnL until the next
decision. `explain_run` summarises how the expert weights moved with the regime over a run.

Attributions need the model and the observation it saw. Those come from outside through an
`Attributor` (the CLI loads the checkpoint and rebuilds the observation from the run's data,
then calls `attribution_lines`), so this module works unchanged for static-policy runs.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import cycle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bot.core.errors import ConfigError  # noqa: E402
from bot.core.saved_meta import checkpoint_path  # noqa: E402
from bot.engine.journal import DecisionRecord, Journal, RunRecord  # noqa: E402
from strategies import EXPERTS, STRATEGIES, strategy_names  # noqa: E402

MODEL_PREFIX = "model:"
NO_REGIME = "none"
REGIME_COLORS = {"uptrend": "tab:green", "downtrend": "tab:red", "consolidation": "tab:gray"}
EXPERT_COLORS = ("tab:blue", "tab:orange", "tab:purple", "tab:olive")  # EXPERTS order
DPI = 100

Attributor = Callable[[DecisionRecord], Sequence[str]]


def explain_decision(
    journal: Journal,
    run_id: str,
    at: datetime,
    *,
    pnl: pd.DataFrame | None = None,
    attributor: Attributor | None = None,
) -> str:
    """Describe the run's last decision at or before `at` (timezone-aware).

    PnL per strategy until the next decision (or the end of `pnl` for the last one) comes from
    `pnl` when given (cumulative PnL per strategy, indexed by UTC time, as a backtest records
    it), else from the journalled fills, marked at the closes journalled with the decisions.
    `attributor` turns a model decision into attribution lines (see `attribution_lines`).
    """
    run = journal.run(run_id)
    records = journal.decision_records(run_id)
    index = _locate(records, at, run_id)
    record = records[index]
    following = records[index + 1] if index + 1 < len(records) else None
    lines = [
        _run_header(run),
        f"Decision {index + 1} of {len(records)} at {record.time.isoformat()} "
        f"(window {record.window_index}), policy {record.policy}"
        + (f" version {record.policy_version}" if record.policy_version else "")
        + (f", {record.latency_ms:.1f} ms" if record.latency_ms is not None else ""),
    ]
    if record.fallback:
        lines.append(f"FALLBACK: the static policy decided; the model failed: {record.error}")
    lines += [
        f"Chart: {_chart(record)}",
        f"Inputs hash: {record.inputs_hash or 'none'}",
        f"Regime: {_regime(record)}",
        "Experts and their strategies (share of the expert's capital; * = its choice):",
        *_expert_lines(record.weights, record.experts),
        "Strongest input attributions:",
        *(f"  {line}" for line in decision_attributions(record, attributor)),
        *_pnl_section(journal, record, following, pnl),
    ]
    return "\n".join(lines)


def explain_run(journal: Journal, run_id: str, out_dir: Path) -> str:
    """Summarise how the expert weights moved with the regime over the run; writes a PNG of
    the stacked expert weights with the regime as a coloured band into `out_dir`."""
    run = journal.run(run_id)
    records = journal.decision_records(run_id)
    if not records:
        return f"{_run_header(run)}\nNo decisions were journalled for this run."
    experts = pd.DataFrame(
        [[r.experts[name] for name in EXPERTS] for r in records],
        index=pd.DatetimeIndex([r.time for r in records]),
        columns=list(EXPERTS),
    )
    regimes = pd.Series([_regime_label(r) for r in records], index=experts.index)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"explain-{run_id}.png"
    _plot_run(experts, regimes, path, title=_run_header(run))
    fallbacks = sum(r.fallback for r in records)
    lines = [
        _run_header(run),
        f"{len(records)} decisions from {experts.index[0].isoformat()} to "
        f"{experts.index[-1].isoformat()}; {fallbacks} fell back to the static policy.",
        "Mean expert weights: " + _weights_text(experts.mean()),
        *_regime_lines(experts, regimes),
        *_biggest_move(experts, regimes),
        f"Plot: {path}",
    ]
    return "\n".join(lines)


def attribution_lines(
    model: object,
    observation: object,
    *,
    top: int = 5,
    grid: int = 4,
    expected_hash: str | None = None,
) -> list[str]:
    """Attribution text for one decision from a loaded model and the rebuilt observation:
    gradient x input on the feature matrix, then chart occlusion. `expected_hash` (the
    journalled inputs hash) is checked against the observation's digest."""
    from bot.model.attribution import chart_occlusion, feature_attributions

    lines = []
    if expected_hash is not None and observation.digest() != expected_hash:
        lines.append(
            "WARNING: the rebuilt observation differs from the one journalled (inputs hash "
            "mismatch); these attributions may not describe what the model saw."
        )
    lines.append("gradient x input on the features (toward the chosen expert's weight):")
    for name, offset, score in feature_attributions(model, observation, top=top):
        lines.append(f"  {name} at bar offset {offset}: {score:+.4g}")
    drops = np.asarray(chart_occlusion(model, observation, grid=grid))
    cell = np.unravel_index(int(np.argmax(drops)), drops.shape)
    lines.append(
        f"chart occlusion ({'x'.join(map(str, drops.shape))} cells, row 0 at the top): hiding "
        f"cell {tuple(int(i) for i in cell)} lowers the score most, by {float(drops[cell]):.4g}"
    )
    return lines


def _locate(records: list[DecisionRecord], at: datetime, run_id: str) -> int:
    if at.tzinfo is None:
        raise ConfigError(f"The time {at} has no timezone; pass a UTC time, e.g. 2020-03-02Z.")
    if not records:
        raise ConfigError(f"Run {run_id} journalled no decisions: nothing to explain.")
    stamps = np.array([r.ts for r in records], dtype=np.int64)
    index = int(np.searchsorted(stamps, pd.Timestamp(at).value, side="right")) - 1
    if index < 0:
        raise ConfigError(
            f"Run {run_id} has no decision at or before {at.isoformat()}; its first decision "
            f"is at {records[0].time.isoformat()}."
        )
    return index


def _run_header(run: RunRecord) -> str:
    return f"Run {run.run_id}: {run.mode} {run.symbol} {run.bar}, policy {run.policy}"


def _chart(record: DecisionRecord) -> str:
    if record.chart_path is None:
        return "none (this policy reads no chart)"
    missing = "" if Path(record.chart_path).is_file() else " (the file is missing)"
    return f"{record.chart_path}{missing}"


def _regime(record: DecisionRecord) -> str:
    if not record.regime:
        return f"none (the policy {record.policy!r} predicts no regime)"
    ranked = sorted(record.regime.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {p:.2f}" for name, p in ranked)


def _regime_label(record: DecisionRecord) -> str:
    if not record.regime:
        return NO_REGIME
    return max(record.regime.items(), key=lambda item: item[1])[0]


def _expert_lines(weights: Mapping[str, float], experts: Mapping[str, float]) -> list[str]:
    lines = []
    for expert in EXPERTS:
        members = [spec.name for spec in STRATEGIES if spec.expert == expert]
        total = experts.get(expert, 0.0)
        choice = max(members, key=lambda name: weights.get(name, 0.0))
        shares = [
            f"{name}{'*' if name == choice and total > 0 else ''} "
            f"{weights.get(name, 0.0) / total if total > 0 else 0.0:.2f}"
            for name in members
        ]
        lines.append(f"  {expert:<9} {total:.2f}  " + "  ".join(shares))
    return lines


def decision_attributions(record: DecisionRecord, attributor: Attributor | None) -> list[str]:
    """The attribution lines of one decision, or why it has none."""
    if not record.policy.startswith(MODEL_PREFIX):
        return [f"none: the policy {record.policy!r} is static and reads no inputs."]
    if record.fallback:
        return ["none: the model failed at this decision and the static fallback decided."]
    if attributor is None:
        return ["not computed: no model was given to attribute with."]
    return list(attributor(record))


def _pnl_section(
    journal: Journal,
    record: DecisionRecord,
    following: DecisionRecord | None,
    pnl: pd.DataFrame | None,
) -> list[str]:
    if pnl is not None:
        end = following.time if following is not None else pnl.index[-1]
        changes, source = _pnl_from_frame(pnl, record.time, end), "the supplied PnL frame"
    elif following is None:
        return [
            "PnL: this is the last decision; the run's end price is not journalled, so "
            "its PnL needs a PnL frame (a backtest's per-strategy PnL)."
        ]
    elif record.close is None or following.close is None:
        return ["PnL: unavailable; these decisions carry no close price to mark positions at."]
    else:
        end = following.time
        changes = pnl_from_fills(journal.fills(record.run_id), record, following)
        source = "the journalled fills"
    body = [f"  {name:<15} {changes.get(name, 0.0):+,.2f}" for name in strategy_names()]
    return [
        f"PnL per strategy until {end.isoformat()} (from {source}):",
        *body,
        f"  {'total':<15} {sum(changes.values()):+,.2f}",
    ]


def _pnl_from_frame(pnl: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    before = pnl.loc[:start]
    first = before.iloc[-1] if len(before) else pd.Series(0.0, index=pnl.columns)
    last = pnl.loc[:end].iloc[-1]
    return (last - first).to_dict()


def pnl_from_fills(
    fills: pd.DataFrame, start: DecisionRecord, end: DecisionRecord
) -> dict[str, float]:
    """A strategy's PnL is cash + units x price (contract multiplier 1, as every instrument
    this bot builds): the window's cash flows plus the change in the marked position."""
    signed = fills["qty"].where(fills["side"] == "BUY", -fills["qty"])
    cash = -signed * fills["price"] - fills["commission"]
    inside = (fills["ts"] >= start.time) & (fills["ts"] < end.time)
    changes = {}
    for name in strategy_names():
        mine = fills["strategy"] == name
        units_start = signed[mine & (fills["ts"] < start.time)].sum()
        units_end = signed[mine & (fills["ts"] < end.time)].sum()
        changes[name] = float(
            cash[mine & inside].sum() + units_end * end.close - units_start * start.close
        )
    return changes


def _weights_text(weights: pd.Series) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in weights.items())


def _regime_lines(experts: pd.DataFrame, regimes: pd.Series) -> list[str]:
    if (regimes == NO_REGIME).all():
        return ["Regimes: none journalled (a static policy predicts no regime)."]
    switches = int((regimes != regimes.shift()).iloc[1:].sum())
    lines = [f"Regime switches: {switches}. Mean expert weights per predicted regime:"]
    for regime, group in experts.groupby(regimes, sort=False):
        lines.append(
            f"  {regime:<13} {len(group) / len(experts):>4.0%} of decisions: "
            + _weights_text(group.mean())
        )
    return lines


def _biggest_move(experts: pd.DataFrame, regimes: pd.Series) -> list[str]:
    if len(experts) < 2:
        return []
    moves = experts.diff().abs().sum(axis=1).iloc[1:]
    when = moves.idxmax()
    before = experts.index[experts.index.get_loc(when) - 1]
    return [
        f"Largest move: {moves[when]:.2f} of capital (sum of |change|) at {when.isoformat()}, "
        f"regime {regimes[before]} -> {regimes[when]}; now " + _weights_text(experts.loc[when])
    ]


def _plot_run(experts: pd.DataFrame, regimes: pd.Series, path: Path, *, title: str) -> None:
    held, labels = _held_until_end(experts, regimes)
    fig, (top, band) = plt.subplots(
        2, 1, figsize=(11, 5), sharex=True, gridspec_kw={"height_ratios": [6, 1]}
    )
    # Weights hold from one decision to the next: draw steps.
    top.stackplot(
        held.index, held.T.to_numpy(), labels=held.columns, colors=EXPERT_COLORS, step="post"
    )
    top.set_ylim(0, 1)
    top.set_xlim(held.index[0], held.index[-1])
    top.set_ylabel("capital fraction")
    top.set_title(f"{title}\nexpert weights per decision; band: predicted regime")
    top.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, reverse=True)
    palette = _regime_palette(labels)
    handles = {}
    for start, end, regime in zip(
        labels.index[:-1], labels.index[1:], labels.iloc[:-1], strict=True
    ):
        handles[regime] = band.axvspan(start, end, color=palette[regime])
    band.legend(
        handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8
    )
    band.set_yticks([])
    band.set_ylabel("regime", rotation=0, ha="right", va="center")
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _regime_palette(labels: pd.Series) -> dict[str, object]:
    """Fixed colours for the model's regimes; any other label gets a spare colour."""
    palette = dict(REGIME_COLORS, **{NO_REGIME: "whitesmoke"})
    spare = cycle(plt.get_cmap("Set2").colors)
    for regime in labels.unique():
        if regime not in palette:
            palette[regime] = next(spare)
    return palette


def _held_until_end(experts: pd.DataFrame, regimes: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Repeat the last decision one typical gap later, so that its window shows too."""
    gap = experts.index.to_series().diff().median() if len(experts) > 1 else pd.Timedelta("1D")
    end = experts.index[-1] + gap
    held = pd.concat([experts, experts.iloc[[-1]].set_axis([end])])
    return held, pd.concat([regimes, regimes.iloc[[-1]].set_axis([end])])


def model_attributor(
    run: RunRecord, catalog: str | None, journal: Journal | None = None
) -> Attributor | None:
    """For a run routed by a model checkpoint: rebuild each decision's observation from the
    run's data (rounded through nautilus bars, as the engine saw it), with the prompt's account
    line as `journal` recorded it, and attribute it. None for static-policy runs."""
    if not run.policy.startswith("model:"):
        return None
    from bot.core.bars import bar_interval, from_nautilus_bars
    from bot.core.observation import Account, ObservationConfig, build_observation
    from bot.engine.catalog import to_nautilus_bars
    from bot.engine.data import dataset_asset_class, load_bars
    from bot.engine.instruments import make_instrument, price_precision_of
    from bot.engine.router_journal import ACCOUNT_EVENT
    from bot.model.checkpoint import load_checkpoint

    model, _, stats = load_checkpoint(checkpoint_path(run.policy))
    frame = load_bars(run.symbol, run.bar, catalog_dir=catalog)
    instrument = make_instrument(
        run.symbol,
        dataset_asset_class(run.symbol, run.bar, catalog_dir=catalog),
        price_precision=price_precision_of(frame),
    )
    seen = from_nautilus_bars(to_nautilus_bars(frame, instrument, run.bar), run.bar)
    step = bar_interval(run.bar)

    accounts = {}
    if journal is not None:
        events = journal.events(run.run_id, ACCOUNT_EVENT)
        pairs = zip(events["ts"], events["payload"], strict=True)
        accounts = {ts.value: Account(**payload) for ts, payload in pairs}

    def attribute(record: DecisionRecord) -> Sequence[str]:
        bars = seen[seen.index <= record.time - step]  # decisions are stamped at bar close
        config = ObservationConfig(symbol=run.symbol)
        observation = build_observation(bars, stats, config, accounts.get(record.ts))
        return attribution_lines(model, observation, expected_hash=record.inputs_hash)

    return attribute
