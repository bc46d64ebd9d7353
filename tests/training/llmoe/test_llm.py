"""The LLM router: labels by likelihood, rationales, the disk cache and clear load errors."""

from dataclasses import replace

import pytest
import torch

from bot.core.errors import CheckpointError, ConfigError
from bot.engine.data import load_bars
from training.llmoe.features import build_samples
from training.llmoe.headlines import load_headlines
from training.llmoe.llm import LLMConfig, LLMRouter, shipped_gguf
from training.llmoe.prompt import LABELS, build_prompts


def _prompts(n: int):
    bars = load_bars("MSFT", "1d", start="2012-01-01", end="2012-04-30")
    samples = build_samples(bars)
    return build_prompts("MSFT", samples.take(slice(0, n)), bars.index, None)


def test_a_local_model_routes_every_prompt_with_a_label_and_a_rationale(tiny_llm, tmp_path):
    router = LLMRouter(LLMConfig(model=str(tiny_llm), cache_dir=str(tmp_path)))

    routings = router.route(_prompts(3), rationale=True)

    for routing in routings:
        assert routing.label in LABELS
        assert routing.label == (LABELS[0] if routing.p_optimistic >= 0.5 else LABELS[1])
        assert routing.rationale.startswith(f"{routing.label}")
    assert router.computed == 3
    router.close()


def test_the_cache_answers_a_rerun_without_the_model(tiny_llm, tmp_path):
    config = LLMConfig(model=str(tiny_llm), cache_dir=str(tmp_path))
    first = LLMRouter(config)
    before = first.route(_prompts(2), rationale=True)
    first.close()

    again = LLMRouter(config)
    after = again.route(_prompts(2), rationale=True)

    assert after == before
    assert again.computed == 0 and again._model is None
    again.close()


def test_the_dtype_is_part_of_the_cache_key_and_a_bad_one_is_refused(tiny_llm, tmp_path):
    config = LLMConfig(model=str(tiny_llm), cache_dir=str(tmp_path))
    float32 = LLMRouter(config)
    float32.route(_prompts(1))
    float32.close()

    bfloat16 = LLMRouter(replace(config, dtype="bfloat16"))
    bfloat16.route(_prompts(1))

    assert bfloat16.computed == 1  # not answered from the float32 entry
    assert next(bfloat16._model.parameters()).dtype == torch.bfloat16
    bfloat16.close()
    with pytest.raises(ConfigError, match="float16.*not one of float32, bfloat16"):
        LLMRouter(replace(config, dtype="float16"))


def test_a_crafted_headline_reaches_the_tokens_the_model_reads(tiny_llm, tmp_path):
    bars = load_bars("MSFT", "1d", start="2012-01-01", end="2012-04-30")
    samples = build_samples(bars).take(slice(0, 2))
    news = tmp_path / "news.csv"
    news.write_text(f"date,headline\n{samples.days[1]:%Y-%m-%d},Zorblax Corp unveils a toaster\n")
    text, _ = load_headlines(news).align(bars.index)
    router = LLMRouter(LLMConfig(model=str(tiny_llm), cache_dir=str(tmp_path)))
    router.load()
    read = []
    forward = router._forward_prompt
    router._forward_prompt = lambda ids: read.append(router._tokenizer.decode(ids)) or forward(ids)

    router.route(build_prompts("MSFT", samples, bars.index, text))

    assert len(read) == 2
    assert "Zorblax" not in read[0] and "News: no headline" in read[0]
    assert "t: " in read[1] and read[1].count("News: Zorblax Corp unveils a toaster") == 1
    router.close()


def test_the_shared_prefix_cache_gives_the_full_forward_logits(tiny_llm, tmp_path):
    router = LLMRouter(LLMConfig(model=str(tiny_llm), cache_dir=str(tmp_path)))
    router.load()
    prompts = _prompts(2)
    ids = [router._tokenizer(router_text(router, p)).input_ids for p in prompts]

    with torch.no_grad():
        router._forward_prompt(ids[0])
        resumed = router._forward_prompt(ids[1]).logits[0, -1]
        full = router._model(input_ids=torch.tensor([ids[1]])).logits[0, -1]

    torch.testing.assert_close(resumed, full, atol=1e-4, rtol=1e-4)
    router.close()


def router_text(router, prompt):
    from training.llmoe.llm import _render

    return _render(router._tokenizer, prompt)


def test_a_corrupt_gguf_is_refused_with_a_clear_error(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 64)

    with pytest.raises(CheckpointError, match="not a GGUF file"):
        LLMRouter(LLMConfig(model=str(bad), cache_dir=str(tmp_path)))


def test_a_truncated_gguf_fails_to_load_with_a_clear_error(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(shipped_gguf().read_bytes()[:4096])
    router = LLMRouter(LLMConfig(model=str(bad), cache_dir=str(tmp_path)))

    with pytest.raises(CheckpointError, match="could not load"):
        router.load()
    router.close()


def test_a_missing_model_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        LLMRouter(LLMConfig(model=str(tmp_path / "absent.gguf"), cache_dir=str(tmp_path)))
    with pytest.raises(CheckpointError, match="no config.json"):
        LLMRouter(LLMConfig(model=str(tmp_path), cache_dir=str(tmp_path)))


@pytest.mark.slow
def test_the_real_smollm2_gguf_classifies_prompts_with_a_rationale(tmp_path):
    router = LLMRouter(LLMConfig(cache_dir=str(tmp_path)))

    routings = router.route(_prompts(2), rationale=True)

    assert router.source == shipped_gguf()
    for routing in routings:
        assert routing.label in LABELS
        assert 0.0 < routing.p_optimistic < 1.0
        assert routing.rationale.startswith(f"{routing.label}, because")
        assert len(routing.rationale.split()) >= 3
    router.close()
