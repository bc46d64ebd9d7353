"""The `hf` backbone: a local image-text-to-text model (e.g. Qwen2.5-VL) with peft LoRA adapters.

What the language model reads, per observation:
- the two chart views, as the model's own image tokens;
- the 100 x 17 feature matrix, as `temporal_tokens` soft tokens. A small encoder (the compact
  backbone's 1-D conv, then a linear map) turns the standardised matrix into that many vectors
  of the LM's embedding width; they replace the embeddings of as many `SOFT_TOKEN` placeholders
  in the prompt, so every layer attends to them like to words. Soft tokens, rather than adding
  the encoding to the pooled hidden state, let the LM relate the matrix to the charts and the
  text; the placeholder is one of the model's own unused special tokens, so the tokenizer,
  vocabulary and M-RoPE positions stay as they are;
- the Listing 3 prompt.

h is the last hidden state of the final prompt token. With `adapters="per_role"` (the paper)
there is one LoRA adapter for the router and one per expert: the language model runs once per
role with that role's adapter active, and h is (B, 1 + experts, width), role 0 the router
(which the regime head reads too). With `adapters="shared"` one adapter serves all roles, one
pass, h is (B, width). `RouterHeads` reads either.

Under the default targets only the language model carries LoRA (q/k/v/o; Qwen2.5-VL's vision
blocks name theirs `qkv`/`proj`), so the image features are the same under every adapter and
nothing in the vision tower trains: they are computed once per batch, without autograd, and
handed to each role's pass (`mm_encoder_outputs`). The soft tokens come from one encoder shared
by all roles, also once per batch.
"""

import inspect
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bot.core.errors import ConfigError
from bot.core.features import FEATURE_NAMES
from bot.model.backbones import TemporalEncoder, load_processor
from strategies import EXPERTS

ROUTER_ROLE = "router"
ROLES = (ROUTER_ROLE, *EXPERTS)  # adapter names, in the order of h's role axis
SHARED = "default"  # peft's adapter name of the shared variant (saved at the adapter root)
SOFT_TOKEN = "<|vision_pad|>"  # Qwen2-VL's reserved, unused special token


def _device_and_dtype() -> tuple[torch.device, torch.dtype]:
    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.device("cuda"), dtype
    return torch.device("cpu"), torch.float32


class TemporalTokens(nn.Module):
    """The standardised (LOOKBACK, features) matrix -> `count` soft tokens of width `width`."""

    def __init__(self, n_features: int, width: int, count: int, scale: float) -> None:
        super().__init__()
        self.count, self.width = count, width
        self.encoder = TemporalEncoder(n_features)
        self.project = nn.Linear(TemporalEncoder.out_dim, count * width)
        # Start at the scale of the LM's own token embeddings, so that the soft tokens neither
        # drown the prompt nor vanish in it before training.
        nn.init.normal_(self.project.weight, std=scale / TemporalEncoder.out_dim**0.5)
        nn.init.zeros_(self.project.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = self.project(self.encoder(features.float()))
        return tokens.view(len(features), self.count, self.width)


class HFBackbone(nn.Module):
    """A local image-text-to-text model, LoRA adapters per role (or shared) and soft temporal
    tokens; see the module docstring."""

    def __init__(self, config, adapter_dir: Path | None = None) -> None:
        super().__init__()
        from transformers import AutoModelForImageTextToText

        directory = Path(config.hf_model_dir)
        if not (directory / "config.json").is_file():
            raise ConfigError(
                f"hf_model_dir {directory} holds no config.json; point it at a local "
                "image-text-to-text model directory (e.g. a Qwen2.5-VL download)."
            )
        device, dtype = _device_and_dtype()
        self.processor = load_processor(directory)
        base = AutoModelForImageTextToText.from_pretrained(directory, dtype=dtype).to(device)
        if config.gradient_checkpointing:
            # Recompute each layer's activations in backward: memory per sample drops from all
            # layers' activations to one layer's plus each layer's input (README, "hf on a GPU").
            base.config.use_cache = False
            base.activation_checkpointing_enable({"use_reentrant": False})
        self.roles = ROLES if config.adapters == "per_role" else (SHARED,)
        self.peft = _with_adapters(base, config, self.roles, adapter_dir)
        # Listed once: _activate runs before every role's pass, and a 7B model has ~1,000 tensors.
        self._lora = [p for name, p in self.peft.named_parameters() if "lora_" in name]
        self._activate(self.roles[0])
        self.share_vision = _vision_without_lora(self._decoder)
        self.out_dim = base.config.get_text_config().hidden_size
        self.temporal = None
        if config.temporal_tokens:
            self.soft_id = self._soft_token_id()
            embed = self.peft.get_input_embeddings()
            scale = float(embed.weight.detach().float().std())
            self.temporal = TemporalTokens(
                len(FEATURE_NAMES), self.out_dim, config.temporal_tokens, scale
            ).to(device)
            embed.register_forward_hook(self._inject)
        self._soft: torch.Tensor | None = None  # this forward's soft tokens, for `_inject`

    def _soft_token_id(self) -> int:
        tokenizer = self.processor.tokenizer
        token_id = tokenizer.convert_tokens_to_ids(SOFT_TOKEN)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ConfigError(
                f"The tokenizer of {self.processor.__class__.__name__} has no {SOFT_TOKEN} token "
                "to carry the temporal soft tokens; use a Qwen2-VL/Qwen2.5-VL model, or set "
                "temporal_tokens=0."
            )
        return token_id

    def encode(self, observations: list, device: torch.device) -> dict[str, torch.Tensor]:
        texts = [self._chat(o.prompt) for o in observations]
        images = [[o.global_view, o.local_view] for o in observations]
        # the whole output (incl. mm_token_type_ids): without it M-RoPE falls back to 1-D
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        if self.temporal is not None:
            inputs["features"] = torch.from_numpy(np.stack([o.features for o in observations]))
        return {name: tensor.to(device) for name, tensor in inputs.items()}

    def _chat(self, prompt: str) -> str:
        content = [{"type": "image"}, {"type": "image"}]
        if self.temporal is not None:
            matrix = SOFT_TOKEN * self.temporal.count
            content.append({"type": "text", "text": f"Temporal features: {matrix}\n"})
        content.append({"type": "text", "text": prompt})
        return self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )

    def _inject(self, module, args, embeddings: torch.Tensor) -> torch.Tensor:
        if self._soft is None:
            return embeddings
        where = args[0] == self.soft_id
        if int(where.sum()) != self._soft.shape[0] * self._soft.shape[1]:
            raise ConfigError(
                f"The prompt holds {int(where.sum())} {SOFT_TOKEN} tokens, not the "
                f"{self._soft.shape[1]} per observation the temporal encoder fills; do not put "
                f"{SOFT_TOKEN} into prompts."
            )
        soft = self._soft.to(embeddings.dtype).reshape(-1, embeddings.shape[-1])
        return embeddings.masked_scatter(where.unsqueeze(-1), soft)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = dict(batch)
        features = inputs.pop("features", None)
        self._soft = None if self.temporal is None else self.temporal(features)
        try:
            if self.share_vision and "pixel_values" in inputs:
                inputs = self._with_image_features(inputs)
            if len(self.roles) == 1:
                return self._last_hidden(inputs)
            states = []
            for role in self.roles:
                self._activate(role)
                states.append(self._last_hidden(inputs))
            return torch.stack(states, dim=1)
        finally:
            self._soft = None

    @property
    def _decoder(self) -> nn.Module:
        """The multimodal model without the LM head (e.g. `Qwen2_5_VLModel`)."""
        return self.peft.get_base_model().model

    def _with_image_features(self, inputs: dict[str, torch.Tensor]) -> dict:
        """`inputs` with the vision tower's output in place of the pixels, for every role."""
        inputs = dict(inputs)
        pixels = inputs.pop("pixel_values")
        grids = {name: inputs[name] for name in inputs if name.startswith("image_")}
        # Nothing in the vision tower trains, so it needs no backward. Without no_grad the hook
        # that gradient checkpointing puts on its patch embedding makes autograd record the
        # whole tower, save its activations and run its backward.
        with torch.no_grad():
            image = self._decoder.get_image_features(pixels, **grids, return_dict=True)
        inputs["mm_encoder_outputs"] = {"image": image}
        return inputs

    def _activate(self, role: str) -> None:
        # peft's set_adapter freezes every other adapter; all of them train together here.
        self.peft.base_model.set_adapter(role)
        for param in self._lora:
            param.requires_grad_(True)

    def _last_hidden(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        # The decoder without the LM head: only its last (normed) hidden state is kept, not every
        # layer's, nor logits.
        hidden = self._decoder(**inputs).last_hidden_state
        mask = inputs["attention_mask"]
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask * positions).argmax(dim=1)  # final attended token, whatever the padding side
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].float()

    def save_adapter(self, directory: Path) -> None:
        """Write the LoRA adapters (peft format) to `directory`: the shared one at its root, or
        one subfolder per role."""
        self.peft.save_pretrained(directory)


def _vision_without_lora(decoder: nn.Module) -> bool:
    """Whether every LoRA weight lies in the language model, so that the image features do not
    depend on the active adapter, and the model takes precomputed ones. A target such as
    `qkv` or `down_proj` also matches Qwen2.5-VL's vision blocks; then each role runs the whole
    model."""
    language = getattr(decoder, "language_model", None)
    takes_features = "mm_encoder_outputs" in inspect.signature(decoder.forward).parameters
    if language is None or not takes_features:
        return False
    lora = lambda module: sum("lora_" in name for name, _ in module.named_parameters())  # noqa: E731
    return lora(language) == lora(decoder)


def _with_adapters(base, config, roles: tuple[str, ...], adapter_dir: Path | None):
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter_dir is not None:
        first, *others = roles
        folder = lambda role: adapter_dir if role == SHARED else adapter_dir / role  # noqa: E731
        model = PeftModel.from_pretrained(
            base, folder(first), adapter_name=first, is_trainable=True
        )
        for role in others:
            model.load_adapter(folder(role), adapter_name=role, is_trainable=True)
        return model
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_targets),
    )
    first, *others = roles
    model = get_peft_model(base, lora, adapter_name=first)
    for role in others:
        model.add_adapter(role, lora)
    return model
