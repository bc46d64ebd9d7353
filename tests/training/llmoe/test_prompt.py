"""The router prompt: 5 day lines of 11 features, headlines when given, numbers only when not."""

import re

import pandas as pd

from bot.engine.data import load_bars
from training.llmoe.features import build_samples
from training.llmoe.headlines import load_headlines
from training.llmoe.prompt import LABELS, NUMBERS_ONLY, build_prompts

NUMBER = r"[+-]\d+\.\d"


def _msft():
    bars = load_bars("MSFT", "1d", start="2012-01-01", end="2012-06-30")
    return bars, build_samples(bars)


def test_the_prompt_holds_5_days_of_the_11_features_and_the_question():
    bars, samples = _msft()

    prompt = build_prompts("MSFT", samples.take(slice(0, 1)), bars.index, None)[0]

    rows = [line for line in prompt.user.splitlines() if re.match(r"t(-\d)?: ", line)]
    assert [row.split(":")[0] for row in rows] == ["t-4", "t-3", "t-2", "t-1", "t"]
    for row, values in zip(rows, samples.windows[0], strict=True):
        numbers = re.findall(NUMBER, row)
        assert numbers == [f"{v * 100:+.1f}" for v in values]  # 11 features, in order
    assert all(label in prompt.user for label in LABELS)


def test_without_headlines_the_prompt_says_numbers_only():
    bars, samples = _msft()

    prompt = build_prompts("MSFT", samples.take(slice(0, 1)), bars.index, None)[0]

    assert NUMBERS_ONLY in prompt.user
    assert "News:" not in prompt.user


def test_a_crafted_headline_reaches_the_prompt_of_its_day(tmp_path):
    bars, samples = _msft()
    day = samples.days[3]
    path = tmp_path / "news.csv"
    path.write_text(f"date,headline\n{day:%Y-%m-%d},Zorblax Corp unveils quantum toaster\n")
    text, _ = load_headlines(path).align(bars.index)

    prompts = build_prompts("MSFT", samples.take(slice(0, 8)), bars.index, text)

    assert NUMBERS_ONLY not in prompts[3].user
    last_line = [line for line in prompts[3].user.splitlines() if line.startswith("t: ")][0]
    assert last_line.endswith("News: Zorblax Corp unveils quantum toaster")
    with_it = [p for p in prompts if "Zorblax" in p.user]
    assert [p.day for p in with_it] == list(samples.days[3:8])  # in the 5 windows holding it
    assert "News: no headline" in prompts[0].user
    assert (
        prompts[3].digest
        != build_prompts("MSFT", samples.take(slice(3, 4)), bars.index, None)[0].digest
    )
    assert isinstance(prompts[0].day, pd.Timestamp)
