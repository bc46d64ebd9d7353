"""A tiny random Llama causal LM with a byte-level tokenizer, saved like a local model folder,
so that `--llm DIR` runs in seconds without a download. It has no chat template, so it also
exercises the router's plain-text prompt path."""

from pathlib import Path

from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Tokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

EOS = "<|endoftext|>"


def make_tiny_llm(directory: Path, seed: int = 0) -> Path:
    """Save the model and tokenizer to `directory` and return it."""
    import torch

    directory = Path(directory)
    symbols = list(bytes_to_unicode().values())
    vocab = {symbol: index for index, symbol in enumerate([*symbols, EOS])}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], eos_token=EOS, unk_token=EOS)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=vocab[EOS],
        bos_token_id=vocab[EOS],
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
