"""Pick and configure the rewriter backend a model bundle's RewriterConfig names."""

from __future__ import annotations

from pathlib import Path

from seedance.errors import ConfigError

from ..config import RewriterConfig
from .base import Rewriter
from .local_lm import TransformersRewriter
from .openai_api import OpenAIRewriter
from .template import TemplateRewriter


def build_rewriter(cfg: RewriterConfig, model_dir: Path | None = None) -> Rewriter:
    """The backend for `cfg`. Nothing is loaded or contacted here: the transformers model loads
    on the first rewrite and the endpoint is called per rewrite, so their failures surface as
    RewriteError on use. Missing settings are config errors, caught now."""
    if cfg.backend == "template":
        return TemplateRewriter()
    if cfg.backend == "transformers":
        if not cfg.path:
            raise ConfigError("rewriter.path: must be set for the transformers backend")
        path = Path(cfg.path).expanduser()
        if not path.is_absolute() and model_dir is not None:
            path = Path(model_dir) / path
        return TransformersRewriter(path, max_new_tokens=cfg.max_new_tokens, num_beams=cfg.num_beams)
    if cfg.backend == "openai":
        if not cfg.endpoint.strip():
            raise ConfigError("rewriter.endpoint: must be set for the openai backend")
        return OpenAIRewriter(
            cfg.endpoint,
            model=cfg.model,
            api_key_env=cfg.api_key_env,
            timeout_s=cfg.timeout_s,
            max_tokens=cfg.max_new_tokens,
        )
    raise ConfigError(f"rewriter.backend: unknown backend {cfg.backend!r}")
