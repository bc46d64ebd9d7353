"""`python -m benchmarks.gpu_check [--model-dir DIR] [--device cuda|cpu]`: the hf router end to
end on one device, in a few minutes (under 8 on a GPU).

For the tiny random Qwen2.5-VL of the tests, and for a local model folder when given (e.g. a
Qwen2.5-VL-3B download), with adapters per role and with one shared adapter:
- SFT step: forward, the regime and router-prior cross-entropies, backward, AdamW step;
- PPO step: a no-grad rollout pass, then forward, the clipped objective of the router and the
  experts plus the value loss, backward, gradient clip, Adam step;
- routing: `RouterModel.decide` on one observation, p50/p99 latency;
- memory: peak GPU memory on CUDA; on a CPU the bytes of parameters, LoRA parameters and the
  activations autograd saves for backward (a device-independent share of the peak).

Times are medians of wall-clock seconds and, as `cpu_s`/`cpu_ms`, of this process's CPU time: on
a CPU shared with other jobs the wall clock mostly measures the other jobs, the CPU time the work.

Writes benchmarks/results/gpu_check-<device>.json and the routing latencies to
benchmarks/results/router_speed-hf-<device>.json.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
STEPS = 3  # timed steps per measurement, after one warm-up
BATCH = 2  # observations per step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="a local Qwen2.5-VL folder, measured after the tiny")
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None)
    args = parser.parse_args()
    device = args.device or _default_device()
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch looks for a GPU
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch sees no GPU; pass --device cpu.")
    torch.manual_seed(0)
    began = time.perf_counter()
    report = run(device, args.model_dir)
    report["wall_s"] = round(time.perf_counter() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"gpu_check-{device}.json").write_text(json.dumps(report, indent=2) + "\n")
    speed = {
        f"{model}_{variant}": figures["routing"]
        for model, variants in report["models"].items()
        for variant, figures in variants.items()
    }
    speed_file = RESULTS / f"router_speed-hf-{device}.json"
    speed_file.write_text(json.dumps({"device": report["device"], **speed}, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run(device: str, model_dir: str | None) -> dict:
    """The figures of every model and adapter variant."""
    import torch

    from bot.core.observation import Account, build_observation
    from bot.engine.data import load_bars
    from tests.support.tiny_qwen import make_tiny_qwen

    if device == "cpu":
        # One thread: where other jobs share the cores, more threads wait on each other and
        # inflate both clocks (per-role routing read 10x shared's CPU time with two, not 5x).
        torch.set_num_threads(1)
    bars = load_bars("SPX", start="2017-01-01", end="2019-12-31")
    account = Account.flat(100_000.0)
    observations = [build_observation(bars.iloc[: len(bars) - 5 * i], account=account)
                    for i in range(BATCH)]  # fmt: skip
    models = {}
    with tempfile.TemporaryDirectory() as folder:
        folders = {"tiny_qwen": make_tiny_qwen(folder)}
        if model_dir:
            folders[Path(model_dir).name] = Path(model_dir)
        for name, path in folders.items():
            models[name] = {
                variant: _measure(path, variant, observations) for variant in ("per_role", "shared")
            }
    cpu = f"cpu (1 thread of {os.cpu_count()} cores)"
    name = torch.cuda.get_device_name(0) if device == "cuda" else cpu
    return {"device": name, "batch": BATCH, "steps": STEPS, "models": models}


def _measure(path: Path, adapters: str, observations: list) -> dict:
    import torch

    from bot.model.router_model import ModelConfig, RouterModel

    torch.manual_seed(0)
    model = RouterModel(ModelConfig(backbone="hf", hf_model_dir=str(path), adapters=adapters))
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    batch = model.encode_observations(observations)
    figures = {
        "params_bytes": sum(p.numel() * p.element_size() for p in params),
        "trainable_params": sum(p.numel() for p in trainable),
        "lora_params": sum(p.numel() for n, p in model.named_parameters() if "lora_" in n),
        "prompt_tokens": int(batch["attention_mask"].sum(dim=1).max()),
    }
    optimiser = torch.optim.AdamW(trainable, lr=1e-5)
    for stage, step in (("sft", _sft_step), ("ppo", _ppo_step)):
        seconds, cpu_seconds, saved = _timed(lambda step=step: step(model, batch, optimiser))
        figures[stage] = {
            "step_s": round(seconds, 4),
            "cpu_s": round(cpu_seconds, 4),
            "samples_per_s": round(BATCH / seconds, 2),
            "saved_activation_bytes": saved,
        }
    figures["routing"] = _latency(lambda: model.decide(observations[0]))
    if torch.cuda.is_available():
        figures["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    return figures


def _sft_step(model, batch, optimiser) -> None:
    import torch
    import torch.nn.functional as F

    model.train()
    out = model(batch)
    regime = torch.zeros(len(out.regime_logits), dtype=torch.long, device=out.regime_logits.device)
    prior = torch.full_like(out.expert_logits, 1 / out.expert_logits.shape[1])
    loss = (
        F.cross_entropy(out.regime_logits, regime)
        - (prior * torch.log_softmax(out.expert_logits, 1)).sum(1).mean()
    )
    _update(loss, optimiser)


def _ppo_step(model, batch, optimiser) -> None:
    import torch

    from training.ppo import _clipped, _log_density_t

    model.eval()
    with torch.no_grad():  # the rollout's pass, as PPO samples its allocation
        old = model(batch)
    model.train()
    out = model(batch)
    advantage = torch.ones(len(out.expert_logits), device=out.expert_logits.device)
    z = old.expert_logits + torch.randn_like(old.expert_logits)
    loss = _clipped(
        _log_density_t(out.expert_logits, z, 1.0),
        _log_density_t(old.expert_logits, z, 1.0),
        advantage,
        0.15,
    )
    for logits, before in zip(out.policy_logits, old.policy_logits, strict=True):
        z_k = before + torch.randn_like(before)
        loss = loss + _clipped(
            _log_density_t(logits, z_k, 1.0), _log_density_t(before, z_k, 1.0), advantage, 0.15
        ) / len(out.policy_logits)
    loss = loss + 0.5 * out.values.pow(2).mean()
    _update(loss, optimiser)


def _update(loss, optimiser) -> None:
    import torch

    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(
        [p for group in optimiser.param_groups for p in group["params"]], 0.5
    )
    optimiser.step()


def _timed(step) -> tuple[float, float, int]:
    """Median wall and CPU seconds of a step (after a warm-up) and the bytes autograd saved in
    one."""
    import numpy as np

    saved = saved_bytes(step)
    times = np.array([_clocked(step) for _ in range(STEPS)])
    return float(np.median(times[:, 0])), float(np.median(times[:, 1])), saved


def saved_bytes(step) -> int:
    """The bytes of the tensors autograd saves for backward in one call of `step`."""
    import torch

    saved = [0]

    def pack(tensor):
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return saved[0]


def _latency(work) -> dict[str, float]:
    import numpy as np

    work()
    times = np.array([_clocked(work) for _ in range(2 * STEPS)]) * 1000
    p50, p99 = np.percentile(times[:, 0], [50, 99])
    cpu = float(np.median(times[:, 1]))
    return {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2),
            "cpu_ms": round(cpu, 2), "n": len(times)}  # fmt: skip


def _clocked(work) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    _sync()
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    _sync()
    return time.perf_counter() - wall, time.process_time() - cpu


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
