"""A deliberately bad router for promotion tests: it ignores what it sees and puts nearly all
capital on ShortOnly, which loses on a rising market."""

from pathlib import Path

import torch

from bot.model.checkpoint import load_checkpoint, save_checkpoint
from bot.model.router_model import EXPERT_ROWS
from strategies import EXPERTS, STRATEGIES

_CERTAIN = 30.0  # a logit margin that makes softmax put ~1 - 1e-13 on one choice


def short_only_router(source: Path, out: Path) -> Path:
    """A copy of the checkpoint `source` whose router always chooses ShortOnly."""
    model, meta, stats = load_checkpoint(source)
    position = EXPERTS.index("position")
    rows = EXPERT_ROWS[position]
    short = [STRATEGIES[row].name for row in rows].index("ShortOnly")
    heads = model.heads
    with torch.no_grad():
        heads.router.weight.zero_()
        heads.router.bias.copy_(torch.eye(len(EXPERTS))[position] * _CERTAIN)
        heads.policy[position].weight.zero_()
        heads.policy[position].bias.copy_(torch.eye(len(rows))[short] * _CERTAIN)
    return save_checkpoint(model, out, stats=stats, extra_meta=meta["extra"])
