"""A Prometheus metrics endpoint for a paper or live node (`--metrics-port`).

The values are read from the node's components at scrape time (no per-bar bookkeeping):
- `bot_equity`: mark-to-market equity at the last bar, in the quote currency;
- `bot_drawdown`: fraction below the kill switch's equity peak;
- `bot_decision_latency_ms`: the last router decision's latency;
- `bot_decisions_total`, `bot_fallbacks_total`: router decisions, and those that fell back;
- `bot_order_errors_total{kind}`: orders rejected by the venue or denied by the risk engine;
- `bot_rate_limited_total{venue,status}`: the venue's 429/418 answers our clients saw;
- `bot_orders_below_venue_minimum_total{strategy}`: orders not sent because they fall below
  the instrument's minimum quantity or notional;
- `bot_kill_switch_tripped`: 1 while tripped.
It binds 127.0.0.1 by default: the numbers describe an account, expose them on purpose only.
"""

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from bot.engine.risk import RiskGuard
from bot.engine.router import RouterActor


class NodeMetrics:
    """A Prometheus collector over the router actor and the risk guard of one node."""

    def __init__(self, router: RouterActor, guard: RiskGuard) -> None:
        self.router, self.guard = router, guard

    def collect(self):
        """The metric families, as of now."""
        last, switch = self.guard.last_bar, self.guard.kill_switch
        if last is not None:
            yield GaugeMetricFamily("bot_equity", "Equity at the last bar", value=last["equity"])
            if switch.peak:
                drawdown = max(0.0, 1.0 - last["equity"] / switch.peak)
                yield GaugeMetricFamily("bot_drawdown", "Fraction below the peak", value=drawdown)
        if self.router.last_latency_ms is not None:
            latency = self.router.last_latency_ms
            yield GaugeMetricFamily("bot_decision_latency_ms", "Last decision", value=latency)
        decisions = [d for _, d in self.router.recorder.decisions]
        yield CounterMetricFamily("bot_decisions", "Router decisions", value=len(decisions))
        fell_back = sum(d.fallback for d in decisions)
        yield CounterMetricFamily("bot_fallbacks", "Decisions that fell back", value=fell_back)
        errors = CounterMetricFamily("bot_order_errors", "Orders refused", labels=["kind"])
        for kind, count in self.guard.order_errors.items():
            errors.add_metric([kind], count)
        yield errors
        limited = CounterMetricFamily(
            "bot_rate_limited", "429/418 answers of the venue", labels=["venue", "status"]
        )
        for (venue, status), count in self.guard.throttled.items():
            limited.add_metric([venue, str(status)], count)
        yield limited
        below = CounterMetricFamily(
            "bot_orders_below_venue_minimum",
            "Orders not sent: below the venue's minimum",
            labels=["strategy"],
        )
        for strategy in self.guard.watched:
            below.add_metric([strategy.name], strategy.below_minimum)
        yield below
        tripped = float(switch.tripped)
        yield GaugeMetricFamily("bot_kill_switch_tripped", "1 while tripped", value=tripped)


def serve_metrics(port: int, router: RouterActor, guard: RiskGuard, address: str = "127.0.0.1"):
    """Serve /metrics on `address:port` from a daemon thread; returns the server (call
    `shutdown()` to stop it)."""
    registry = CollectorRegistry()
    registry.register(NodeMetrics(router, guard))
    server, _ = start_http_server(port, addr=address, registry=registry)
    return server
