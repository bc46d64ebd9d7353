"""The router actor's config, and the one mapping from the `[router]` settings to a run's fields
(backtests, evaluations and live nodes all read it)."""

from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

from bot.core.settings import Settings


def router_settings(settings: Settings) -> dict:
    """What every run, backtest or live, reads from `[router]` besides the policy: the one
    place that maps those settings to a run's fields."""
    router = settings.router
    return {
        "window": router.window,
        "seed": router.seed,
        "fallback": router.fallback,
        "timeout_s": router.timeout_s,
        "weights": dict(router.weights),
    }


class RouterActorConfig(ActorConfig, frozen=True):
    """Router actor settings.

    Parameters
    ----------
    policy : str
        Policy spec (see `bot.engine.policy`); `fallback` is the static policy used when it fails.
    window : int
        Bars between decisions.
    start_ns : int
        No decision before this time: bars before it only warm up the strategies and history.
    weights_json : str
        Strategy -> fraction, for the `fixed` policy.
    journal_path, run_id, symbol, chart_dir :
        Where decisions and fills are journalled, under which run, and where the charts the
        model saw are kept. No journal when `journal_path` is None.
    journal_batch : int
        Writes the journal commits at a time (`Journal`'s `batch`); 0, a live node's, commits
        each decision and fill at once.
    registry : str
        The model registry folder of the `registry` policy: the router routes with its active
        model and switches, at the next window, to one promoted or rolled back meanwhile. The
        active model must load when the actor is built; one promoted later that does not load
        is refused (journalled, alerted) and the router keeps the model it has.
    background : bool
        Live nodes: the model decides in a worker thread and a 20 ms timer publishes its answer
        (or the fallback's after `timeout_s`), so the event loop never waits for a slow model.
        Off in backtests, which wait for each decision and stay deterministic.
    """

    instrument_id: InstrumentId
    bar_type: BarType
    policy: str = "uniform"
    fallback: str = "uniform"
    timeout_s: float = 5.0
    window: int = 20
    seed: int = 0
    start_ns: int = 0
    weights_json: str = "{}"
    best_expert: str | None = None
    journal_path: str | None = None
    run_id: str = ""
    journal_batch: int = 0
    symbol: str = ""
    chart_dir: str | None = None
    registry: str = "var/registry"
    background: bool = False
