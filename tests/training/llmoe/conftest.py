import pytest

from tests.training.llmoe.tiny_llm import make_tiny_llm


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory):
    """A tiny random causal-LM folder, built once per session."""
    return make_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))
