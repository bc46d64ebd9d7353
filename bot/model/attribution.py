"""Why the router chose what it chose, for `bot explain`.

Both functions score the weight of the expert the model favours for the observation (its
largest w_k): `feature_attributions` by gradient x input on the standardised feature matrix,
`chart_occlusion` by how much that weight drops when a cell of the global chart view is painted
over with the chart's background colour (the local view is left as it is).
"""

import dataclasses

import numpy as np
import torch

from bot.core.features import FEATURE_NAMES
from bot.model.router_model import RouterModel


def _chosen_expert(model: RouterModel, observation) -> int:
    with torch.no_grad():
        out = model(model.encode_observations([observation]))
    return int(out.expert_weights[0].argmax())


def feature_attributions(
    model: RouterModel, observation, top: int = 5
) -> list[tuple[str, int, float]]:
    """The `top` (feature name, bar offset, score) by |gradient x input| of the chosen expert's
    weight, strongest first. Bar offset 0 is the decision bar t, -1 the bar before, and so on.
    Empty for a backbone that does not read the feature matrix (hf: it sees charts and text)."""
    model.eval()
    expert = _chosen_expert(model, observation)
    batch = model.encode_observations([observation])
    if "features" not in batch:
        return []
    features = batch["features"].float().requires_grad_(True)
    weight = model({**batch, "features": features}).expert_weights[0, expert]
    (gradient,) = torch.autograd.grad(weight, features)
    scores = (gradient * features).detach()[0].cpu().numpy()
    rows = scores.shape[0]
    order = np.argsort(-np.abs(scores), axis=None, kind="stable")[:top]
    return [
        (
            FEATURE_NAMES[flat % scores.shape[1]],
            int(flat // scores.shape[1]) - (rows - 1),
            float(scores.flat[flat]),
        )
        for flat in order
    ]


def chart_occlusion(model: RouterModel, observation, grid: int = 4) -> np.ndarray:
    """A (grid, grid) array: the chosen expert's weight minus its weight with that cell of the
    global view painted in the view's background (per-channel median) colour. Positive cells
    supported the choice."""
    model.eval()
    expert = _chosen_expert(model, observation)
    view = observation.global_view
    background = np.median(view.reshape(-1, 3), axis=0).astype(np.uint8)
    edges_y = np.linspace(0, view.shape[0], grid + 1).astype(int)
    edges_x = np.linspace(0, view.shape[1], grid + 1).astype(int)
    occluded = []
    for i in range(grid):
        for j in range(grid):
            painted = view.copy()
            painted[edges_y[i] : edges_y[i + 1], edges_x[j] : edges_x[j + 1]] = background
            occluded.append(dataclasses.replace(observation, global_view=painted))
    with torch.no_grad():
        base = model(model.encode_observations([observation])).expert_weights[0, expert]
        weights = model(model.encode_observations(occluded)).expert_weights[:, expert]
    return (base - weights).cpu().numpy().reshape(grid, grid)
