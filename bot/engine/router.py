"""The RouterActor: the one component that decides capital.

Every `window` bars it asks its policy for weights and publishes them as `RouterWeights`; the
strategies size themselves from the latest weights. Its collaborators: `RouterRecorder`
(`bot.engine.router_recorder`) records the equity curve, per-strategy PnL, every decision and
the strategies' unit-capital returns per bar; `RouterJournal` (`bot.engine.router_journal`)
journals decisions and fills as they happen; `RegistryFollower` (`bot.engine.router_registry`)
switches the `registry` policy's model on promotion.

Its window phase and last weights are its saved state (`on_save`, in the cache after every
bar): a live node restarted from Redis neither decides early nor leaves the strategies at
weight 0 until the next decision; it republishes the restored weights on its first bar.
"""

import json
import time
from dataclasses import replace
from datetime import timedelta

from nautilus_trader.common.actor import Actor
from nautilus_trader.model.data import Bar, DataType

from bot.core.alerts import FALLBACK_STORM, Notifier
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
from bot.engine.router_recorder import RouterRecorder
from bot.engine.router_registry import RegistryFollower
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
        self._journal = RouterJournal(config, self.log)  # decisions, fills, held back, switches
        self._registry: RegistryFollower | None = None  # the `registry` policy's models
        if config.policy == REGISTRY_POLICY:
            self._registry = RegistryFollower(
                config.registry, self._guarded, self.log, self._journal, self._alert
            )
            self._policy = self._registry.first()
        else:
            self._policy = self._guarded(config.policy)
        self._history = BarHistory(REQUIRED_BARS)
        self.recorder = RouterRecorder(config.fallback)  # equity, PnL, decisions, unit returns
        self._last_ts = -1  # ts_event of the last bar taken, warm-up history included
        self._since_decision: int | None = None
        self._weights: RouterWeights | None = None  # the last published, for restarts
        self._republish = False  # restored from a previous run: publish them on the next bar
        self.progress = None  # an optional tqdm bar, advanced once per bar
        self.notifier: Notifier | None = None  # alerts (live nodes): fallback storms, refusals
        self.last_latency_ms: float | None = None
        self._pending = None  # background: (bar, policy, Pending, began) of the decision asked
        self._account_seen: Account | None = None  # the account the last observation read

    def watch(self, strategies: list[RoutedStrategy]) -> None:
        """The strategies whose PnL the actor records (their fill ledgers, in table order)."""
        self.recorder.watch(strategies)

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
        self.recorder.track(bar)
        if self.progress is not None:
            self.progress.update()
        if bar.ts_event < self.config.start_ns:
            return
        instrument = self.cache.instrument(self.config.instrument_id)
        equity = account_equity(self.portfolio, self.cache, instrument)
        self.recorder.bar(bar, equity, instrument.multiplier.as_double())
        self._journal.held_back(self.recorder.strategies, bar.ts_event)
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

    def _decide(self, bar: Bar) -> None:
        if self._registry is not None:  # `bot models promote|rollback` since the last window
            self._policy = self._registry.follow(bar.ts_event)
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
        self.recorder.decision(bar.ts_event, decision)
        if decision.fallback:
            self.log.warning(f"router fell back to {decision.policy}: {decision.error}")
        if self.recorder.fallbacks_in_a_row == FALLBACK_STORM_AFTER:
            self._alert(
                FALLBACK_STORM,
                f"router fell back {FALLBACK_STORM_AFTER} decisions in a row: {decision.error}",
                {"policy": self.config.policy, "fallback": decision.policy},
            )
        self.log.info(
            f"router decision policy={decision.policy} latency_ms={latency_ms:.1f} "
            + " ".join(f"{k}={v:.2f}" for k, v in decision.experts.items())
        )
        window_index = len(self.recorder.decisions) - 1
        self._journal.decision(
            bar, decision, observation, latency_ms, window_index, self._account_seen
        )

    def _alert(self, kind: str, message: str, details: dict) -> None:
        if self.notifier is not None:
            self.notifier.send(kind, message, details)

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
        notional = units * self.recorder.last_close * instrument.multiplier.as_double()
        return Account(balance=total - notional, units=units, total=total)

    def _context(self) -> RouterContext:
        return RouterContext(self._history.frame(), self.recorder.unit_returns())
