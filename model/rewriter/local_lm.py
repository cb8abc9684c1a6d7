"""Rewriter backed by any transformers causal LM in a local directory.

The model is loaded on first use (so building a pipeline stays cheap when nobody rewrites) and
kept. Decoding is greedy so the same prompt always gives the same caption. Every failure --
missing directory, unloadable weights, a crash in generate, an empty answer -- is a
RewriteError: a rewrite is never silently skipped.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from seedance.errors import RewriteError

from .base import (
    RewriteResult,
    check_request,
    clean_model_output,
    detect_language,
    finish_caption,
    instruction_messages,
)
from .templates import INSTRUCTIONS, LANGUAGE_HINT, PLAIN_PROMPT


class TransformersRewriter:
    backend = "transformers"

    def __init__(self, path: str | Path, max_new_tokens: int = 160, num_beams: int = 1):
        self.path = Path(path)
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self._tokenizer: Any = None
        self._model: Any = None
        self._lock = threading.Lock()  # one load even if two requests arrive together

    def rewrite(self, prompt: str, task: str = "t2v", camera_fixed: bool = False) -> RewriteResult:
        text = check_request(prompt, task)
        language = detect_language(text)
        tokenizer, model = self._load()
        model_input = build_model_prompt(tokenizer, text, task, language)
        raw = self._generate(tokenizer, model, model_input)
        caption = clean_model_output(raw)
        if not caption:
            raise RewriteError(f"rewriter model {self.path} produced an empty caption")
        caption = finish_caption(caption, language, camera_fixed)
        return RewriteResult(caption=caption, backend=self.backend, task=task, language=language)

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                # A failed load is not cached: a later call retries (e.g. after the files appear).
                self._tokenizer, self._model = _load_local(self.path)
            return self._tokenizer, self._model

    def _generate(self, tokenizer: Any, model: Any, model_input: str) -> str:
        try:
            import torch

            enc = encode_model_prompt(tokenizer, model_input, return_tensors="pt")
            device = next(model.parameters()).device
            enc = {k: v.to(device) for k, v in enc.items()}
            eos = tokenizer.eos_token_id
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    num_beams=self.num_beams,
                    early_stopping=self.num_beams > 1,
                    # Override sampling defaults a chat model's generation_config may carry.
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    eos_token_id=eos,
                    pad_token_id=pad,
                )
            new_tokens = out[0, enc["input_ids"].shape[1] :]  # strip the prompt
            return tokenizer.decode(new_tokens, skip_special_tokens=True)
        except Exception as e:
            raise RewriteError(f"rewriter model {self.path} failed to generate: {type(e).__name__}: {e}") from e


def build_model_prompt(tokenizer: Any, prompt: str, task: str, language: str) -> str:
    """The text the LM continues: its chat template if it has one, else a plain Task/Prompt/
    Caption layout (small LMs trained by us have no chat template)."""
    if getattr(tokenizer, "chat_template", None):
        try:
            return tokenizer.apply_chat_template(
                instruction_messages(prompt, task, language), tokenize=False, add_generation_prompt=True
            )
        except Exception as e:
            raise RewriteError(f"rewriter chat template failed: {type(e).__name__}: {e}") from e
    return PLAIN_PROMPT.format(
        instruction=INSTRUCTIONS[task], language_hint=LANGUAGE_HINT[language], prompt=prompt
    )


def encode_model_prompt(tokenizer: Any, model_input: str, return_tensors: str | None = None) -> Any:
    """Tokenize `build_model_prompt`'s text exactly as generation does (rewriter training builds
    its sequences with this too, so train and inference token ids agree). Chat templates already
    contain the special tokens; a plain prompt gets the tokenizer's usual ones."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    return tokenizer(model_input, return_tensors=return_tensors, add_special_tokens=not has_template)


def _load_local(path: Path) -> tuple[Any, Any]:
    if not path.is_dir():
        raise RewriteError(f"rewriter model directory not found: {path}")
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        # local_files_only: a rewriter path is a directory on disk, never a hub id to fetch.
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except Exception as e:
        raise RewriteError(f"cannot load rewriter model from {path}: {type(e).__name__}: {e}") from e
    model.eval()
    return tokenizer, model
