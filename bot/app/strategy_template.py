"""`bot strategies new`: a documented strategy file of your own and its contract test.

The files follow `strategies/ma_cross.py` and `tests/strategies/test_contract.py`: one frozen,
typed config paired with the strategy class that reads it, and a test that runs the table's
contract (`tests/strategies/contract.py`) on it. The strategy joins the table through
`BOT_STRATEGIES` (`strategies.plugins`).
"""

import re
from pathlib import Path

from bot.core.errors import ConfigError
from strategies import EXPERTS
from strategies.plugins import table

STRATEGY = '''"""{name}: a {expert} strategy of my own (from `bot strategies new`; edit freely).

It joins the strategy table when BOT_STRATEGIES names this file (`bot strategies list` shows
it), and trades where a run names it: `bot backtest --policy single:{name}`, the `fixed` policy's
weights, `bot sweep {name} --grid period=10,20,50`. Its test: {test}.
"""

from nautilus_trader.config import NonNegativeFloat, PositiveInt

from strategies import StrategySpec
from strategies.base import RoutedStrategy, RoutedStrategyConfig
from strategies.indicators import BarWindow, sma


class {name}Config(RoutedStrategyConfig, frozen=True):
    """The parameters `bot sweep` can vary: typed, with defaults, checked when the config is made.

    - Long while the close is more than `band` above its `period`-bar simple moving average,
      short while it is more than `band` below it, flat in between (a spot cash account clips
      the short side to flat: the base class's `long_only`).
    - `warmup_bars` is the history the strategy waits for before its first signal, and the
      length of the window `decide` sees: keep it at least `period`.
    """

    period: PositiveInt = 20
    band: NonNegativeFloat = 0.01
    warmup_bars: PositiveInt = 100


class {name}(RoutedStrategy):
    """Computes only its signal; the base class sizes the position from the router's weight
    (weight x equity x signal / price) and places the orders."""

    def decide(self, window: BarWindow) -> float:
        """The target exposure in [-1, 1] after the window's last bar."""
        cfg = self.config
        close = window.close
        average = sma(close, cfg.period)[-1]
        if close[-1] > average * (1 + cfg.band):
            return 1.0
        if close[-1] < average * (1 - cfg.band):
            return -1.0
        return 0.0


STRATEGY = StrategySpec("{name}", "{expert}", {name}, {name}Config)
'''

TEST = '''"""The strategy table's contract on {name} (written by `bot strategies new`).

Run it from the project folder: python -m pytest {test}
"""

import importlib.util
from pathlib import Path

from tests.strategies import patterns
from tests.strategies.contract import check_contract
from tests.strategies.harness import equity_instrument

HERE = Path(__file__).resolve().parent


def _spec():
    module_spec = importlib.util.spec_from_file_location("{module}", HERE / "{module}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.STRATEGY


def test_{module}_keeps_the_contract():
    check_contract(_spec(), equity_instrument(), patterns.regime())
'''


def write_template(name: str, expert: str, folder: Path) -> tuple[Path, Path]:
    """Write `<folder>/<name in snake case>.py` and its test; their paths. ConfigError for a
    name that is not a class name or is taken, an unknown expert, or files already there."""
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        raise ConfigError(f"Strategy name {name!r}: use a class name in CamelCase, e.g. MyTrend.")
    if name in {spec.name for spec in table()}:
        raise ConfigError(f"The table has a strategy {name!r} already: choose another name.")
    if expert not in EXPERTS:
        raise ConfigError(f"Expert {expert!r}: choose one of {', '.join(EXPERTS)}.")
    module = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    strategy, test = folder / f"{module}.py", folder / f"test_{module}.py"
    existing = [str(path) for path in (strategy, test) if path.exists()]
    if existing:
        raise ConfigError(f"{', '.join(existing)} exist already; nothing was overwritten.")
    folder.mkdir(parents=True, exist_ok=True)
    fields = {"name": name, "expert": expert, "module": module, "test": test}
    strategy.write_text(STRATEGY.format(**fields))
    test.write_text(TEST.format(**fields))
    return strategy, test
