"""Prompt rewriter ("PE"): short user prompt -> dense caption in the training-caption style.

Backends: rule-based templates, a local transformers causal LM, or an OpenAI-compatible
endpoint. T2V and I2V rewrites differ; a failed rewrite raises RewriteError.
"""

from .base import Rewriter, RewriteResult, detect_language
from .build import build_rewriter
from .local_lm import TransformersRewriter
from .openai_api import OpenAIRewriter
from .template import TemplateRewriter

__all__ = [
    "OpenAIRewriter",
    "RewriteResult",
    "Rewriter",
    "TemplateRewriter",
    "TransformersRewriter",
    "build_rewriter",
    "detect_language",
]
