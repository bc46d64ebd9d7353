"""A tiny random Qwen2.5-VL saved like a local model directory, for tests and benchmarks.

Nothing is downloaded: the tokenizer has the 256 byte symbols plus the Qwen special tokens and no
merges, the weights are random, and the text side is 2 layers of width 128.
"""

from pathlib import Path

from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Tokenizer,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from bot.model.backbones import image_only_processor

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|vision_pad|>",  # the hf backbone's temporal soft-token placeholder, as in Qwen's vocabulary
)

# The real models' text shapes (their config.json), for benchmarks of memory and speed at size;
# the vision tower stays tiny (no weights offline).
QWEN_TEXT_SHAPES = {
    "qwen2.5-vl-3b": dict(
        hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
        num_key_value_heads=2, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
    ),
    "qwen2.5-vl-7b": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
    ),
}  # fmt: skip

# The stock processor demands a video processor, which needs torchvision; charts need none.
TinyQwenProcessor = image_only_processor(Qwen2_5_VLProcessor)

# Qwen's chat layout, reduced to what the router sends: one user turn of images and text.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ item['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer() -> Qwen2Tokenizer:
    symbols = list(bytes_to_unicode().values())
    vocab = {symbol: index for index, symbol in enumerate(symbols + list(SPECIAL_TOKENS))}
    return Qwen2Tokenizer(vocab=vocab, merges=[], additional_special_tokens=list(SPECIAL_TOKENS))


def make_tiny_qwen(directory: Path, text: dict | None = None) -> Path:
    """Save a random tiny Qwen2.5-VL model, tokenizer and processor to `directory`; `text`
    overrides the language model's shape (e.g. the 3B model's, for a GPU benchmark)."""
    directory = Path(directory)
    tokenizer = _tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    text_config = dict(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_scaling={"type": "mrope", "mrope_section": [4, 6, 6]},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    ) | (text or {})
    config = Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=dict(
            depth=2,
            hidden_size=64,
            intermediate_size=128,
            num_heads=2,
            out_hidden_size=text_config["hidden_size"],
            window_size=56,
            fullatt_block_indexes=[1],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(directory)
    processor = TinyQwenProcessor(
        image_processor=Qwen2VLImageProcessorPil(), tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    processor.save_pretrained(directory)
    return directory
