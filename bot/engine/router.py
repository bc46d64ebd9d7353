"""The RouterActor: the one component that decides capital.

Every `window` bars it asks its policy for weights and publishes them as `RouterWeights`; the
strategies size themselves from the latest weights. It records the mark-to-market equity curve,
per-strategy PnL and every decision, and journals decisions and fills as they happen
(`bot.engine.router_journal`). It also keeps each strategy's unit-capital return per bar (the
signal it held going into the bar times the bar's close-to-close return; costs and fill timing
left out), whatever its weight: what `momentum` ranks.

Its window phase and last weights are its saved state (`on_save`, in the cache after every
bar): a live node restarted from Redis neither decides early nor leaves the strategies at
weight 0 until the next decision; it republishes the restored weights on its first bar.
"""

import json
import time
from collections import deque
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
from nautilus_trader.common.actor import Actor
from nautilus_trader.model.data import Bar, DataType

from bot.core.alerts import FALLBACK_STORM, MODEL_REFUSED, Notifier
from bot.core.errors import BotError, ConfigError
from bot.core.features import REQUIRED_BARS
from bot.core.observation import Account, BarHistory, Observation, build_observation
from bot.engine.policy import (
    Decision,
    GuardedPolicy,
    PolicyLoader,
    PolicySpec,
    RouterContext,
)
from bot.engine.registry import REGISTRY_POLICY
from bot.engine.router_config import RouterActorConfig
from bot.engine.router_journal import RouterJournal
from bot.engine.router_registry import RegistryFollower
from strategies import STRATEGIES, strategy_names
from strategies.base import RoutedStrategy, request_warmup
from strategies.equity import account_equity
from strategies.weights import RouterWeights, encode

FALLBACK_STORM_AFTER = 3  # consecutive fallback decisions that alert an operator
_POLL_TIMER = "router-decision"  # background decisions: the timer that looks for the answer
_POLL_S = 0.02


class RouterActor(Actor):
    """Publishes `RouterWeights` every window, records equity, journals decisions and fills.

    Building it loads its policy: a named model (or the registry's active one) that does not
    load is a CheckpointError here, before any engine or node runs it."""

    def __init__(self, config: RouterActorConfig, load_policy: PolicyLoader | None = None) -> None:
        super().__init__(config)
        self._load_policy = load_policy
        self._registry: RegistryFollower | None = None  # the `registry` policy's models
        if config.policy == REGISTRY_POLICY:
            self._registry = RegistryFollower(config.registry, self._guarded)
            self._policy = self._registry.first()
        else:
            self._policy = self._guarded(config.policy)
        self._history = BarHistory(REQUIRED_BARS)
        # Unit-capital returns of the strategies over the same last bars (RouterContext).
        self._unit_returns: deque[list[float]] = deque(maxlen=REQUIRED_BARS)
        self._last_bar: tuple[int, float] | None = None  # (ts_event, close) of the last bar
        self._last_ts = -1  # ts_event of the last bar taken, warm-up history included
        self._since_decision: int | None = None
        self._weights: RouterWeights | None = None  # the last published, for restarts
        self._republish = False  # restored from a previous run: publish them on the next bar
        self._journal = RouterJournal(config, self.log)  # decisions, fills, held back, switches
        self._strategies: list[RoutedStrategy] = []
        self.decisions: list[tuple[int, Decision]] = []
        self.equity: list[tuple[int, float]] = []
        self.exposure: list[float] = []  # gross exposure / equity, per recorded bar
        self.sizing_gap: list[float] = []  # exposure the strategies could not order, per bar
        self.strategy_pnl: list[tuple[int, list[float]]] = []
        self.progress = None  # an optional tqdm bar, advanced once per bar
        self.notifier: Notifier | None = None  # alerts (live nodes): fallback storms
        self._fallbacks_in_a_row = 0
        self.last_latency_ms: float | None = None
        self._pending = None  # background: (bar, policy, Pending, began) of the decision asked
        self._account_seen: Account | None = None  # the account the last observation read

    def watch(self, strategies: list[RoutedStrategy]) -> None:
        """The strategies whose PnL the actor records (their fill ledgers, in table order)."""
        self._strategies = list(strategies)

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)
        # Live: the first decision sees a full observation history, as in backtests.
        request_warmup(self, self.config.bar_type, REQUIRED_BARS)
        if self._journal.open():
            # From the bus itself, not `subscribe_order_fills`, which stops delivering once the
            # actor stops: a stopping node still takes the fills of orders in flight.
            topic = f"events.fills.{self.config.instrument_id}"
            self.msgbus.subscribe(topic=topic, handler=self._journal_fill)

    def on_dispose(self) -> None:
        self._journal.close()

    def on_save(self) -> dict[str, bytes]:
        if self._weights is None:
            return {}
        weights = self._weights
        state = {"since_decision": self._since_decision, "ts": weights.ts_event}
        state |= {"weights_json": weights.weights_json, "policy": weights.policy}
        state["bar_type"] = str(self.config.bar_type)
        return {"router": json.dumps(state).encode()}

    def on_load(self, state: dict[str, bytes]) -> None:
        saved = json.loads(state.get("router", b"{}"))
        if saved.get("bar_type") != str(self.config.bar_type):
            return  # nothing saved, or a phase and weights of other bars: decide afresh
        self._since_decision = saved["since_decision"]
        self._weights = RouterWeights(
            ts_event=saved["ts"],
            ts_init=saved["ts"],
            weights_json=saved["weights_json"],
            policy=saved["policy"],
        )
        self._republish = True

    def on_historical_data(self, data) -> None:
        if isinstance(data, Bar) and data.bar_type == self.config.bar_type:
            self._history.push(data)
            self._last_ts = max(self._last_ts, data.ts_event)

    def on_bar(self, bar: Bar) -> None:
        if not self._accept(bar):
            return
        self._history.push(bar)
        self._track_unit_returns(bar)
        if self.progress is not None:
            self.progress.update()
        if bar.ts_event < self.config.start_ns:
            return
        self._record(bar)
        self._journal.held_back(self._strategies, bar.ts_event)
        due = self._since_decision is None or self._since_decision >= self.config.window
        if due and self._pending is None:  # background: a decision still out is awaited first
            self._decide(bar)
        elif self._republish:  # a restart: the strategies resume with the last weights
            self.publish_data(DataType(RouterWeights), self._weights)
        self._republish = False
        self._since_decision += 1
        # A crash skips nautilus' save at stop: keep the window phase in the cache every bar
        # (a no-op without a cache database, as in backtests).
        self.cache.update_actor(self)

    def _accept(self, bar: Bar) -> bool:
        """False for a bar at or before the last one (a replay after a reconnect, an old bar
        out of order): as the strategies drop it, it records no equity, counts nothing toward
        the window and decides nothing."""
        if bar.ts_event <= self._last_ts:
            self.log.warning(
                f"router ignored a bar at {bar.ts_event}: not after its last bar at {self._last_ts}"
            )
            return False
        self._last_ts = bar.ts_event
        return True

    def _journal_fill(self, fill) -> None:
        self._journal.fill(fill, self.cache)

    def _guarded(self, policy: str) -> GuardedPolicy:
        config = self.config
        spec = PolicySpec(
            name=policy,
            weights=json.loads(config.weights_json),
            seed=config.seed,
            best_expert=config.best_expert,
        )
        return GuardedPolicy(spec, config.fallback, config.timeout_s, self._load_policy)

    def _follow_registry(self, ts: int) -> None:
        """`registry` policy: switch to the active model when it changed since the last window
        (`bot models promote|rollback`); an unreadable pointer, or a model that does not load,
        keeps the current model (the refusal is logged, journalled and alerted once)."""
        try:
            active = self._registry.newly_active()
        except ConfigError as error:
            self.log.error(f"model registry unreadable, keeping {self._registry.active}: {error}")
            return
        if active is None:
            return
        payload = {"from": self._registry.active, "to": active, "load_error": None}
        try:
            self._policy = self._registry.switch(active)
        except BotError as error:
            payload["load_error"] = str(error)
            self._refuse_switch(active, str(error))
        else:
            self.log.warning(f"router switched model {payload['from']} -> {active}")
        self._journal.switch(ts, payload)

    def _refuse_switch(self, model: str, error: str) -> None:
        message = (
            f"router keeps model {self._registry.active}: the newly active {model} does not load"
        )
        self.log.error(f"{message}: {error}")
        if self.notifier is not None:
            self.notifier.send(MODEL_REFUSED, f"{message}: {error}", {"model": model})

    def _decide(self, bar: Bar) -> None:
        if self._registry is not None:
            self._follow_registry(bar.ts_event)
        self._since_decision = 0
        if not self.config.background:
            began = time.perf_counter()
            decision, observation = self._policy.decide(self._observe, self._context)
            self._publish_decision(bar, decision, observation, began)
            return
        # Live: the model runs in the policy's worker thread and a timer polls it, so the event
        # loop goes on (fills, bars, other actors) while it thinks; the strategies keep the last
        # weights until the decision, or the fallback's at the time-out, is published.
        pending = self._policy.submit(self._observe, self._context)
        self._pending = (bar, self._policy, pending, time.perf_counter())
        if not self._settle():
            self.clock.set_timer(
                _POLL_TIMER, timedelta(seconds=_POLL_S), callback=lambda _: self._settle()
            )

    def _settle(self) -> bool:
        """Publish the pending decision when it is there; True when nothing is pending now."""
        if self._pending is None:
            return True
        bar, policy, pending, began = self._pending
        decision = policy.settle(pending)
        if decision is None:
            return False
        self._pending = None
        if _POLL_TIMER in self.clock.timer_names:
            self.clock.cancel_timer(_POLL_TIMER)
        self._publish_decision(bar, decision, pending.observation, began)
        return True

    def _publish_decision(
        self, bar: Bar, decision: Decision, observation: Observation | None, began: float
    ) -> None:
        latency_ms = (time.perf_counter() - began) * 1e3
        self.last_latency_ms = latency_ms
        self._weights = encode(decision.weights, decision.policy, bar.ts_event)
        self.publish_data(DataType(RouterWeights), self._weights)
        self.decisions.append((bar.ts_event, decision))
        if decision.fallback:
            self.log.warning(f"router fell back to {decision.policy}: {decision.error}")
        self._count_fallbacks(decision)
        self.log.info(
            f"router decision policy={decision.policy} latency_ms={latency_ms:.1f} "
            + " ".join(f"{k}={v:.2f}" for k, v in decision.experts.items())
        )
        window_index = len(self.decisions) - 1
        self._journal.decision(
            bar, decision, observation, latency_ms, window_index, self._account_seen
        )

    def _count_fallbacks(self, decision: Decision) -> None:
        self._fallbacks_in_a_row = self._fallbacks_in_a_row + 1 if decision.fallback else 0
        if self.notifier is not None and self._fallbacks_in_a_row == FALLBACK_STORM_AFTER:
            self.notifier.send(
                FALLBACK_STORM,
                f"router fell back {FALLBACK_STORM_AFTER} decisions in a row: {decision.error}",
                {"policy": self.config.policy, "fallback": decision.policy},
            )

    def _observe(self) -> Observation:
        primary = self._policy.primary
        config = replace(primary.observation, symbol=self.config.symbol)
        self._account_seen = self._account()
        return build_observation(self._history.frame(), primary.stats, config, self._account_seen)

    def _account(self) -> Account:
        """The prompt's account line: mark-to-market equity, the instrument's net units over
        every strategy, and the cash left as if the position were paid in full (equity less its
        notional at the last close, as Listing 3's balance + units x price = total)."""
        instrument = self.cache.instrument(self.config.instrument_id)
        units = float(self.portfolio.net_position(instrument.id))
        total = account_equity(self.portfolio, self.cache, instrument)
        notional = units * self._last_bar[1] * instrument.multiplier.as_double()
        return Account(balance=total - notional, units=units, total=total)

    def _context(self) -> RouterContext:
        returns = np.array(self._unit_returns, dtype=np.float64).reshape(-1, len(STRATEGIES))
        return RouterContext(self._history.frame(), returns)

    def _track_unit_returns(self, bar: Bar) -> None:
        """Each strategy's return over `bar` at unit capital. The actor sees a bar before the
        strategies do, so their `target` is still the signal they held going into it."""
        close = bar.close.as_double()
        if self._last_bar is not None:
            last_close = self._last_bar[1]
            if len(self._strategies) >= len(STRATEGIES):  # the built-in ones; plug-ins after
                change = close / last_close - 1.0 if last_close else 0.0
                built_in = self._strategies[: len(STRATEGIES)]
                self._unit_returns.append([s.target * change for s in built_in])
        self._last_bar = (bar.ts_event, close)

    def _record(self, bar: Bar) -> None:
        instrument = self.cache.instrument(self.config.instrument_id)
        equity = account_equity(self.portfolio, self.cache, instrument)
        close = bar.close.as_double()
        notional = close * instrument.multiplier.as_double()
        gross = sum(abs(s.units) for s in self._strategies) * notional
        gap = sum(abs(s.sizing_gap) for s in self._strategies) * notional
        self.equity.append((bar.ts_event, equity))
        self.exposure.append(gross / equity if equity > 0 else 0.0)
        self.sizing_gap.append(gap / equity if equity > 0 else 0.0)
        self.strategy_pnl.append((bar.ts_event, [s.pnl(close) for s in self._strategies]))

    def fallbacks(self) -> list[str]:
        """One line per distinct fallback reason, with its count, for the report."""
        reasons = pd.Series([d.error for _, d in self.decisions if d.fallback], dtype=object)
        return [
            f"router fell back to {self.config.fallback} on {count} of {len(self.decisions)} "
            f"decisions: {reason}"
            for reason, count in reasons.value_counts(sort=False).items()
        ]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Equity, gross exposure and sizing gap, per-strategy cumulative PnL, and weights per
        decision."""
        equity = pd.DataFrame(
            {
                "equity": [e for _, e in self.equity],
                "exposure": self.exposure,
                "sizing_gap": self.sizing_gap,
            },
            index=pd.to_datetime([ts for ts, _ in self.equity], utc=True),
        )
        pnl = pd.DataFrame(
            [row for _, row in self.strategy_pnl],
            index=pd.to_datetime([ts for ts, _ in self.strategy_pnl], utc=True),
            columns=[s.name for s in self._strategies],
        )
        built_in = strategy_names()  # then the plug-ins run, whichever strategies were built
        weights = pd.DataFrame(
            [d.weights for _, d in self.decisions],
            index=pd.to_datetime([ts for ts, _ in self.decisions], utc=True),
            columns=[*built_in, *(s.name for s in self._strategies if s.name not in built_in)],
        )
        return equity, pnl, weights
