import math
import threading
import time

import pytest

from bot.core.errors import CheckpointError, ConfigError
from bot.engine.policy import (
    GuardedPolicy,
    PolicySpec,
    StaticPolicy,
    build_policy,
    check_policy,
    load_named_policy,
)
from strategies import EXPERTS, STRATEGIES, strategy_names

NAMES = strategy_names()
MEMBERS = {e: [s.name for s in STRATEGIES if s.expert == e] for e in EXPERTS}


def _decide(spec: PolicySpec):
    return build_policy(spec).decide()


def test_uniform_gives_every_strategy_one_eleventh():
    decision = _decide(PolicySpec("uniform"))

    assert list(decision.weights) == list(NAMES)
    assert len(NAMES) == 11
    assert all(w == pytest.approx(1 / 11) for w in decision.weights.values())
    assert math.fsum(decision.weights.values()) == pytest.approx(1.0)
    assert decision.policy == "uniform"
    assert decision.experts == pytest.approx({e: len(MEMBERS[e]) / 11 for e in EXPERTS})


def test_fixed_with_valid_weights_fills_the_rest_with_zero():
    weights = {"LongOnly": 0.6, "MACross": 0.3, "Cash": 0.1}

    decision = _decide(PolicySpec("fixed", weights))

    assert list(decision.weights) == list(NAMES)
    assert decision.weights == {name: weights.get(name, 0.0) for name in NAMES}
    assert decision.experts == pytest.approx(
        {"trend": 0.3, "reversal": 0.0, "breakout": 0.0, "position": 0.7}
    )


def test_static_policy_gives_the_same_weights_every_time():
    policy = build_policy(PolicySpec("fixed", {"RSI": 0.5, "KDJ": 0.5}))

    first, second = policy.decide(), policy.decide(observation=None)

    assert first.weights == second.weights


@pytest.mark.parametrize(
    ("weights", "needles"),
    [
        ({"LongOnly": 0.5, "Cash": 0.4}, ["sums to 0.900000", "not 1", "Cash"]),
        ({"LongOnly": 0.5, "Cash": 0.5 + 1e-4}, ["sums to 1.000100"]),
        ({}, ["sums to 0.000000"]),
        ({"Foo": 0.5, "Cash": 0.5}, ["unknown strategies ['Foo']", "Known strategies", "MACross"]),
        ({"LongOnly": 1.5, "ShortOnly": -0.5}, ["outside 0..1", "ShortOnly", "-0.5", "Cash"]),
        ({"LongOnly": math.nan, "Cash": 1.0}, ["outside 0..1", "LongOnly", "nan"]),
    ],
    ids=["short", "over", "empty", "unknown", "negative", "nan"],
)
def test_fixed_with_bad_weights_is_a_config_error_that_says_what_and_how(weights, needles):
    with pytest.raises(ConfigError) as caught:
        build_policy(PolicySpec("fixed", weights))

    message = str(caught.value)
    assert all(needle in message for needle in needles), message
    assert "policy 'fixed'" in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("expert", EXPERTS)
def test_best_expert_spreads_capital_over_that_experts_strategies(expert):
    members = MEMBERS[expert]

    decision = _decide(PolicySpec("best-expert", best_expert=expert))

    assert {n for n, w in decision.weights.items() if w > 0} == set(members)
    assert all(decision.weights[n] == pytest.approx(1 / len(members)) for n in members)
    assert decision.experts[expert] == pytest.approx(1.0)
    assert math.fsum(decision.weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("expert", ["momentum", None])
def test_best_expert_refuses_an_unknown_expert(expert):
    with pytest.raises(ConfigError) as caught:
        build_policy(PolicySpec("best-expert", best_expert=expert))

    message = str(caught.value)
    assert repr(expert) in message
    assert all(e in message for e in EXPERTS)


def _draws(seed: int, n: int) -> list[list[float]]:
    policy = build_policy(PolicySpec("random", seed=seed))
    return [list(policy.decide().weights.values()) for _ in range(n)]


def test_random_is_reproducible_by_seed():
    assert _draws(7, 5) == _draws(7, 5)


def test_random_differs_across_seeds_and_across_decisions():
    first, second = _draws(7, 2)

    assert first != second
    assert _draws(8, 1)[0] != first


def test_random_weights_are_a_valid_allocation_every_time():
    policy = build_policy(PolicySpec("random", seed=1))

    decisions = [policy.decide() for _ in range(200)]

    for decision in decisions:
        assert list(decision.weights) == list(NAMES)
        assert min(decision.weights.values()) >= 0.0
        assert math.fsum(decision.weights.values()) == pytest.approx(1.0, abs=1e-9)
        assert math.fsum(decision.experts.values()) == pytest.approx(1.0, abs=1e-9)
    # a draw that never moved one strategy above 0.2 would not be Dirichlet(1, ..., 1)
    assert max(max(d.weights.values()) for d in decisions) > 0.2


def test_single_puts_all_capital_on_that_strategy():
    decision = _decide(PolicySpec("single:LongOnly"))

    assert decision.weights == {name: float(name == "LongOnly") for name in NAMES}
    assert decision.experts["position"] == 1.0
    assert decision.policy == "single:LongOnly"


def test_single_with_an_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ConfigError) as caught:
        build_policy(PolicySpec("single:Nope"))

    message = str(caught.value)
    assert "'Nope'" in message
    assert all(name in message for name in NAMES)


def test_unknown_policy_name_lists_valid_choices():
    with pytest.raises(ConfigError) as caught:
        build_policy(PolicySpec("greedy"))

    message = str(caught.value)
    assert "'greedy'" in message
    for choice in ("uniform", "fixed", "best-expert", "random", "single:<strategy>", "Turtle"):
        assert choice in message


def test_check_policy_accepts_best_expert_without_an_expert():
    check_policy(PolicySpec("best-expert"))


@pytest.mark.parametrize(
    "spec",
    [PolicySpec("fixed", {"LongOnly": 0.5}), PolicySpec("single:Nope"), PolicySpec("greedy")],
)
def test_check_policy_refuses_a_bad_spec(spec):
    with pytest.raises(ConfigError):
        check_policy(spec)


@pytest.mark.parametrize(
    "spec", [PolicySpec("uniform"), PolicySpec("random", seed=3), PolicySpec("single:Cash")]
)
def test_check_policy_accepts_a_good_spec(spec):
    assert check_policy(spec) is None


def _unloadable(spec: PolicySpec):
    raise OSError(f"read error in {spec.name.removeprefix('model:')}/model.safetensors")


def _refusing(spec: PolicySpec):
    raise CheckpointError(f"No meta.json in {spec.name.removeprefix('model:')}.")


@pytest.mark.parametrize(
    ("loader", "reason"),
    [(_unloadable, "OSError: read error in /ckpt/model.safetensors"), (_refusing, "No meta.json")],
)
def test_a_named_model_that_does_not_load_is_a_checkpoint_error_with_the_reason(loader, reason):
    with pytest.raises(CheckpointError) as refused:
        load_named_policy(PolicySpec("model:/ckpt"), loader)

    message = str(refused.value)
    assert "Router policy model:/ckpt did not load" in message and reason in message
    assert "--policy" in message  # what to do


def test_the_guarded_policy_refuses_a_model_that_does_not_load_rather_than_fall_back():
    with pytest.raises(CheckpointError, match="did not load"):
        GuardedPolicy(PolicySpec("model:/ckpt"), "uniform", 5.0, _refusing)


def test_check_policy_loads_a_named_model_only_when_given_the_loader():
    check_policy(PolicySpec("model:/ckpt"))  # the router loads it later

    with pytest.raises(CheckpointError, match="model:/ckpt"):
        check_policy(PolicySpec("model:/ckpt"), _refusing)


class _Raising:
    name = "model:/ckpt"
    needs_observation, needs_context = True, False

    def decide(self, observation=None, context=None):
        raise RuntimeError("CUDA out of memory (simulated)")


def test_a_loaded_model_that_raises_still_falls_back():
    guarded = GuardedPolicy(PolicySpec("model:/ckpt"), "uniform", 5.0, lambda spec: _Raising())

    decision, _ = guarded.decide(lambda: None)

    assert decision.fallback and decision.policy == "uniform"
    assert "RuntimeError: CUDA out of memory (simulated)" in decision.error


class _Slow:
    """A model that answers LongOnly after `seconds`, or when released."""

    name = "model:/slow"
    needs_observation, needs_context = True, False

    def __init__(self, seconds: float) -> None:
        self.seconds, self.release = seconds, threading.Event()

    def decide(self, observation=None, context=None):
        self.release.wait(self.seconds)
        return StaticPolicy(self.name, {"LongOnly": 1.0}).decide()


def _settled(guarded: GuardedPolicy, pending, within: float):
    deadline = time.monotonic() + within
    while (decision := guarded.settle(pending)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return decision


def test_submit_returns_at_once_and_settles_with_the_models_answer():
    slow = _Slow(seconds=5.0)
    guarded = GuardedPolicy(PolicySpec("model:/slow"), "uniform", 5.0, lambda spec: slow)

    began = time.monotonic()
    pending = guarded.submit(lambda: None)
    waited = time.monotonic() - began
    not_yet = guarded.settle(pending)
    slow.release.set()

    assert waited < 0.5 and not_yet is None
    decision = _settled(guarded, pending, within=2.0)
    assert decision.policy == "model:/slow" and decision.weights["LongOnly"] == 1.0


def test_a_background_decision_past_its_time_limit_falls_back_and_the_next_does_not_queue():
    slow = _Slow(seconds=5.0)
    guarded = GuardedPolicy(PolicySpec("model:/slow"), "uniform", 0.1, lambda spec: slow)

    late = _settled(guarded, guarded.submit(lambda: None), within=2.0)
    began = time.monotonic()
    busy = guarded.settle(guarded.submit(lambda: None))
    waited = time.monotonic() - began
    slow.release.set()

    assert late.fallback and late.policy == "uniform" and "timed out" in late.error
    assert busy.fallback and "still running" in busy.error and waited < 0.5
