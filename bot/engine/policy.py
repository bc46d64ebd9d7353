"""Router policies behind one interface. The static ones are baselines and the safe fallback.

A policy spec is a string, one of `POLICY_FORMS`: `uniform`, `fixed`, `best-expert`, `random`,
`single:<strategy>`, `model:<checkpoint directory>`, `registry` (resolved by the router actor),
`lgbm:<model directory>`, or one of the bar-reading baselines of `bot.engine.router_baselines`:
`rule` (`rule:<bars>`) and `momentum`. A model policy reads the
observation; a baseline reads the router's `RouterContext` (its bar history and the strategies'
unit returns), which costs no chart. `GuardedPolicy` wraps the configured one with a time limit
and a static fallback, so a loaded model that fails never stops the router; a named model that
does not load at all is an error (`load_named_policy`), never a silent fallback.
"""

import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

import numpy as np
import pandas as pd

from bot.core.errors import BotError, CheckpointError, ConfigError
from bot.core.observation import Observation
from strategies import EXPERTS, STRATEGIES, strategy_names
from strategies.plugins import plugin_strategies, table
from strategies.weights import check_weights


@dataclass(frozen=True)
class Decision:
    """One router decision: capital fraction per strategy (summing to 1) and expert weights."""

    weights: dict[str, float]
    experts: dict[str, float]
    policy: str
    regime: dict[str, float] | None = None  # class probabilities, from a model
    version: str | None = None  # the checkpoint's version, from a model
    fallback: bool = False
    error: str | None = None  # why the fallback decided


@dataclass(frozen=True)
class PolicySpec:
    """What the configuration asks for; `build_policy` turns it into a policy."""

    name: str
    weights: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0
    best_expert: str | None = None


@dataclass(frozen=True, eq=False)
class RouterContext:
    """What the router actor knows at decision bar t, for policies that read bars rather than
    the observation (`needs_context`).

    `bars` is its bar history up to and including t (`BarHistory.frame()`, at most
    `REQUIRED_BARS` rows). `unit_returns` is (n, 11), strategies in table order: each strategy's
    return over each of the last n bars up to t at unit capital, from the signal it held going
    into the bar and whatever its router weight (`RouterActor`).
    """

    bars: pd.DataFrame
    unit_returns: np.ndarray


class Policy(Protocol):
    name: str
    needs_observation: bool
    needs_context: bool

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        """Weights for the next window, from the observation or the context at the decision bar."""
        ...


def expert_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Sum strategy fractions per expert (a plug-in's under the expert its row names)."""
    out = dict.fromkeys(EXPERTS, 0.0)
    for spec in table():
        out[spec.expert] += weights.get(spec.name, 0.0)
    return out


def complete(weights: Mapping[str, float]) -> dict[str, float]:
    """All eleven built-in strategies in table order, missing ones at 0, then any plug-in
    `weights` names (`strategies.plugins`)."""
    full = {name: float(weights.get(name, 0.0)) for name in strategy_names()}
    return full | {name: float(weights[name]) for name in plugins_named(weights)}


def plugins_named(weights: Collection[str]) -> tuple[str, ...]:
    """The plug-in strategies among `weights`' names, in table order: the rows a run must
    build besides the eleven (`strategies.build_strategies`)."""
    return tuple(spec.name for spec in plugin_strategies() if spec.name in weights)


def policy_plugins(policy: str, weights: Mapping[str, float]) -> tuple[str, ...]:
    """The plug-ins a policy spec trades: `single:<plug-in>`, or plug-ins in the `fixed`
    policy's `weights`; no other policy routes to plug-ins (`strategies.plugins`)."""
    if policy.startswith("single:"):
        return plugins_named({policy.removeprefix("single:")})
    return plugins_named(weights) if policy == "fixed" else ()


class StaticPolicy:
    """The same weights at every decision."""

    needs_observation = needs_context = False

    def __init__(self, name: str, weights: Mapping[str, float]) -> None:
        known = [spec.name for spec in table()]
        check_weights(weights, what=f"policy {name!r}", known=known)
        self.name = name
        self._decision = Decision(complete(weights), expert_weights(weights), name)

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        return self._decision


class RandomPolicy:
    """Dirichlet(1, ..., 1) weights over the eleven strategies, freshly drawn per decision."""

    needs_observation = needs_context = False

    def __init__(self, seed: int) -> None:
        self.name = "random"
        self._rng = np.random.default_rng(seed)

    def decide(
        self, observation: Observation | None = None, context: RouterContext | None = None
    ) -> Decision:
        draw = self._rng.dirichlet(np.ones(len(STRATEGIES)))
        weights = dict(zip(strategy_names(), draw.tolist(), strict=True))
        return Decision(weights, expert_weights(weights), self.name)


PolicyLoader = Callable[[PolicySpec], Policy]
MODEL_PREFIXES = ("model:", "lgbm:")

# Every form a policy spec takes, with what it does: the one list that `--policy` help, the
# settings' description and the unknown-policy error print, so none of them can miss a form.
POLICY_FORMS: tuple[tuple[str, str], ...] = (
    ("model:<dir>", "a router checkpoint; the default, model:models/daily-equities, ships"),
    ("registry", "paper and live only: the active model of `bot models`, re-read every window"),
    ("lgbm:<dir>", "a LightGBM router from `bot train lgbm`"),
    ("uniform", "equal capital on every strategy"),
    ("fixed", "router.weights from the settings"),
    ("best-expert", "the expert with the best Sharpe on the span before the start"),
    ("random", "fresh Dirichlet weights at every decision, seeded by --seed"),
    ("single:<strategy>", "all capital on one strategy, e.g. single:RSI"),
    ("rule | rule:<bars>", "the expert of the regime over the trailing bars"),
    ("momentum", "the expert with the best trailing Sharpe"),
)


def policy_forms() -> str:
    """`POLICY_FORMS` as one line: "model:<dir> (...); registry (...); ..."."""
    return "; ".join(f"{form} ({what})" for form, what in POLICY_FORMS)


def build_policy(spec: PolicySpec, load_policy: PolicyLoader | None = None) -> Policy:
    """Turn a policy spec into a policy, refusing unknown names with the list of valid ones.
    Model policies (`MODEL_PREFIXES`) come from `load_policy`: the model layer sits above the
    engine, so the application passes `bot.model.policy.load_policy` in."""
    if spec.name == "uniform":
        return StaticPolicy("uniform", dict.fromkeys(strategy_names(), 1 / len(STRATEGIES)))
    if spec.name == "fixed":
        return StaticPolicy("fixed", spec.weights)
    if spec.name == "random":
        return RandomPolicy(spec.seed)
    if spec.name == "best-expert":
        return StaticPolicy("best-expert", _expert_uniform(spec.best_expert))
    if spec.name.startswith(MODEL_PREFIXES):
        if load_policy is None:
            raise ConfigError(
                f"{spec.name} is a model policy, but this engine was given no model loader: "
                "pass load_policy=bot.model.policy.load_policy."
            )
        return load_policy(spec)
    if spec.name.startswith("single:"):
        name = spec.name.removeprefix("single:")
        return StaticPolicy(spec.name, {name: 1.0})
    if spec.name == "registry":
        raise ConfigError(
            "Policy 'registry' follows the registry's active model in a paper or live node, "
            "which switches models mid-run; a backtest names one: model:<registry path>/<name> "
            "(`bot models list` shows them)."
        )
    from bot.engine.router_baselines import build_baseline  # it builds on this module

    baseline = build_baseline(spec.name)
    if baseline is not None:
        return baseline
    raise ConfigError(
        f"Unknown router policy {spec.name!r}. Use one of: {policy_forms()}. Strategies for "
        f"single:<strategy>: {', '.join(spec.name for spec in table())}."
    )


def load_named_policy(spec: PolicySpec, load_policy: PolicyLoader | None = None) -> Policy:
    """`build_policy` for the policy a run or node was told to use. A model (`MODEL_PREFIXES`)
    that does not load is a CheckpointError naming it and the reason: the fallback stands in
    for a loaded model that fails while deciding, never for a model that is not there."""
    if load_policy is None or not spec.name.startswith(MODEL_PREFIXES):
        return build_policy(spec, load_policy)
    try:
        return load_policy(spec)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BotError) else f"{type(exc).__name__}: {exc}"
        raise CheckpointError(
            f"Router policy {spec.name} did not load, so nothing ran with it: {reason} The "
            "fallback policy is only for a model that loaded and then fails. Fix or re-create "
            "the checkpoint, or choose another policy (--policy or router.policy)."
        ) from exc


def check_policy(spec: PolicySpec, load_policy: PolicyLoader | None = None) -> None:
    """Refuse a bad spec before any work is done. best-expert is resolved later, on data. A
    model (or LightGBM) policy is loaded here when `load_policy` is given (CheckpointError when
    it does not load); else the router loads it, and refuses it, when it is built."""
    if spec.name.startswith(MODEL_PREFIXES):
        if load_policy is not None:
            load_named_policy(spec, load_policy)
    elif spec.name != "best-expert":
        build_policy(spec)


class GuardedPolicy:
    """The configured policy under a time limit, with a static fallback.

    The configured policy must load: a model that does not raises `load_named_policy`'s
    CheckpointError here, so nothing trades the fallback under the model's name. A loaded
    policy that raises, times out, gets no observation (or context) or answers weights that are
    not a capital split (`check_weights`: NaN, negative, not summing to 1, unknown strategies)
    is replaced, for that decision, by the fallback; the decision says so (`fallback`, `error`).
    """

    def __init__(
        self,
        spec: PolicySpec,
        fallback: str,
        timeout_s: float,
        load_policy: PolicyLoader | None = None,
    ) -> None:
        self.fallback = build_policy(replace(spec, name=fallback))
        if self.fallback.needs_observation or self.fallback.needs_context:
            raise ConfigError(
                f"router.fallback {fallback!r} is not a static policy: the fallback must decide "
                "without a model or bars. Use uniform, fixed, random or single:<strategy>."
            )
        self.timeout_s = timeout_s
        self.primary: Policy = load_named_policy(spec, load_policy)
        self._known = tuple(row.name for row in table())  # what a decision may name
        dynamic = self.needs_observation or self.needs_context
        self._pool = ThreadPoolExecutor(1) if dynamic else None
        self._busy: Future | None = None  # the worker's decision of `submit`, while it runs

    @property
    def needs_observation(self) -> bool:
        return self.primary.needs_observation

    @property
    def needs_context(self) -> bool:
        return self.primary.needs_context

    def decide(
        self,
        observe: Callable[[], Observation],
        context: Callable[[], RouterContext] | None = None,
    ) -> tuple[Decision, Observation | None]:
        """One decision; `observe` builds the observation when the policy needs one, `context`
        the router context when it needs that."""
        if self._pool is None:
            return self._guard(partial(self.primary.decide, None)), None
        observation = None
        began = time.monotonic()
        try:
            call, observation = self._call(observe, context)
            remaining = self.timeout_s - (time.monotonic() - began)
            future = self._pool.submit(call)
            return future.result(timeout=max(remaining, 0.0)), observation
        except FutureTimeout:
            return self._fall_back(f"timed out after {self.timeout_s:g} s"), observation
        except Exception as exc:  # a failing model must never stop the router
            return self._fall_back(f"{type(exc).__name__}: {exc}"), observation

    def submit(
        self,
        observe: Callable[[], Observation],
        context: Callable[[], RouterContext] | None = None,
    ) -> "Pending":
        """Start one decision in the worker thread and return at once (a live node's event loop
        never waits for the model); `settle` takes its result. The observation (or context) is
        built here, in the caller's thread, from the state at the decision bar."""
        began = time.monotonic()
        if self._pool is None:
            return Pending(began, None, self._guard(partial(self.primary.decide, None)), None)
        if self._busy is not None and not self._busy.done():
            # The worker still runs an earlier, timed-out decision: queueing behind it would
            # only time out too.
            decision = self._fall_back("the previous decision is still running")
            return Pending(began, None, decision, None)
        try:
            call, observation = self._call(observe, context)
        except Exception as exc:  # a failing model must never stop the router
            return Pending(began, None, self._fall_back(f"{type(exc).__name__}: {exc}"), None)
        self._busy = self._pool.submit(call)
        return Pending(began, observation, None, self._busy)

    def settle(self, pending: "Pending") -> Decision | None:
        """The decision of `pending` when its model answered, the fallback's when it failed or
        ran past `timeout_s` (the model's answer is then dropped), else None: not yet."""
        if pending.decision is not None:
            return pending.decision
        if pending.future.done():
            try:
                return pending.future.result()
            except Exception as exc:
                return self._fall_back(f"{type(exc).__name__}: {exc}")
        if time.monotonic() - pending.began >= self.timeout_s:
            return self._fall_back(f"timed out after {self.timeout_s:g} s")
        return None

    def _call(
        self, observe: Callable[[], Observation], context: Callable[[], RouterContext] | None
    ) -> tuple[Callable[[], Decision], Observation | None]:
        # The check runs in the worker with the model, so that every path (`decide`, `settle`)
        # takes an invalid answer as it takes a model that raises.
        if self.primary.needs_observation:
            observation = observe()
            return partial(self._checked, partial(self.primary.decide, observation)), observation
        if context is None:
            raise ConfigError(f"policy {self.primary.name} needs the router's bar history")
        return partial(self._checked, partial(self.primary.decide, None, context())), None

    def _checked(self, call: Callable[[], Decision]) -> Decision:
        """`call`'s decision; a ConfigError saying what is wrong when its weights are not a
        capital split over known strategies, which `encode` would refuse inside the actor."""
        decision = call()
        weights = {str(name): float(w) for name, w in decision.weights.items()}
        what = f"the decision of policy {self.primary.name!r}"
        check_weights(weights, what=what, known=self._known)
        return decision

    def _guard(self, call: Callable[[], Decision]) -> Decision:
        try:
            return self._checked(call)
        except Exception as exc:  # a failing policy must never stop the router
            return self._fall_back(f"{type(exc).__name__}: {exc}")

    def _fall_back(self, error: str) -> Decision:
        return replace(self.fallback.decide(None), fallback=True, error=error)


@dataclass(frozen=True, eq=False)
class Pending:
    """A decision `GuardedPolicy.submit` started: its start time, the observation it reads, and
    either its decision already (static policies, fallbacks) or the worker's future."""

    began: float
    observation: Observation | None
    decision: Decision | None
    future: Future | None


def _expert_uniform(expert: str | None) -> dict[str, float]:
    if expert not in EXPERTS:
        raise ConfigError(
            f"best-expert needs the expert chosen on the validation split; got {expert!r}. "
            f"Experts: {', '.join(EXPERTS)}."
        )
    return expert_uniform(expert)


def expert_uniform(expert: str) -> dict[str, float]:
    """All capital on `expert`, spread evenly over its strategies."""
    members = [spec.name for spec in STRATEGIES if spec.expert == expert]
    return dict.fromkeys(members, 1 / len(members))
