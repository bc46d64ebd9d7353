"""Imports point one way: bottom <- engine <- model <- training <- application.

- bottom (`bot.core`, `strategies`) imports nothing above it;
- engine (`bot.engine`) imports the bottom; only its node builder (`bot.engine.node`) may import
  `adapters`;
- model (`bot.model`) imports the engine and the bottom;
- `training` imports the model, the engine and the bottom;
- application (`bot.app`, `bot.__main__`) may import anything.
`adapters` import only the bottom; only the application and the node builder import them, and
only the application imports `training`. Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "strategies", "training", "adapters")
RANKS = (  # longest prefix first
    ("bot.core", 0),
    ("strategies", 0),
    ("bot.engine", 1),
    ("bot.model", 2),
    ("training", 3),
    ("bot.app", 4),
    ("bot.__main__", 4),
    ("bot", 0),  # bot/__init__.py: the version only
)
NODE_BUILDER = "bot.engine.node"


def _rank(module: str) -> int | None:
    for prefix, rank in RANKS:
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def _module(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def violations(module: str, imported: str) -> str | None:
    """Why `module` may not import `imported`, or None when it may."""
    top = imported.split(".")[0]
    if module.startswith("adapters"):
        if top in ("adapters", "strategies") or imported.startswith("bot.core"):
            return None
        return "adapters import only the bottom layer (bot.core) and themselves"
    if top == "adapters":
        app = _rank(module) == 4 or module == NODE_BUILDER
        return None if app else "only the application and the node builder import adapters"
    if top == "training" and _rank(module) != 3 and _rank(module) != 4:
        return "only the application layer imports training"
    mine, theirs = _rank(module), _rank(imported)
    if theirs is not None and mine is not None and theirs > mine:
        return f"layer {mine} imports layer {theirs}"
    return None


def _all_violations(root: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module(path, root)
            for line, imported in _imports(path):
                why = violations(module, imported)
                if why:
                    found.append(f"{path.relative_to(root)}:{line} imports {imported}: {why}")
    return found


def test_every_import_points_down_the_layers():
    assert _all_violations(ROOT) == []


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("bot.core.observation", "bot.engine.catalog.from_nautilus_bars"),
        ("bot.engine.policy", "bot.model.checkpoint.load_checkpoint"),
        ("bot.engine.backtest", "training.evaluate.run_evaluation"),
        ("bot.model.checkpoint", "training.router_dataset.RouterDataset"),
        ("bot.engine.router", "adapters.binance.config.FACTORIES"),
        ("adapters.alpaca.data", "bot.engine.validation.validate"),
        ("strategies.base", "bot.engine.sim.new_engine"),
    ],
)
def test_an_upward_import_is_caught(module, imported):
    assert violations(module, imported) is not None


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("bot.engine.backtest", "bot.core.metrics.sharpe"),
        ("bot.model.policy", "bot.engine.policy.Decision"),
        ("training.sft", "bot.model.router_model.RouterModel"),
        ("bot.app.cli.train", "training.sft.train_sft"),
        ("bot.engine.node", "adapters.binance.config.FACTORIES"),
        ("adapters.binance.history", "bot.core.bars.bar_interval"),
    ],
)
def test_a_downward_import_is_allowed(module, imported):
    assert violations(module, imported) is None


def test_a_planted_upward_import_fails_the_check(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "bot" / "core").mkdir()
    (tmp_path / "bot" / "core" / "metrics.py").write_text(
        "def f():\n    from bot.engine.backtest import run_backtest\n"
    )

    assert _all_violations(tmp_path) == [
        "bot/core/metrics.py:2 imports bot.engine.backtest.run_backtest: layer 0 imports layer 1"
    ]
