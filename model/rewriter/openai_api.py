"""Rewriter backed by an OpenAI-compatible chat-completions endpoint (vLLM, SGLang, a hosted
API...). Plain urllib, so the backend adds no dependency.

The API key is read from the environment at call time (so a rotated key is picked up) and is
never put in an error message or log line.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
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

_MAX_RESPONSE_BYTES = 4 << 20  # a caption is a few hundred bytes; refuse to buffer a flood


def chat_completions_url(endpoint: str) -> str:
    """`endpoint` as given if it already names /chat/completions, else the standard path under
    it (a base that already ends in /v1 is not given a second /v1)."""
    base = endpoint.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class OpenAIRewriter:
    backend = "openai"

    def __init__(self, endpoint: str, model: str = "", api_key_env: str = "", timeout_s: float = 30.0,
                 max_tokens: int | None = None):
        if not endpoint.strip():
            raise RewriteError("rewriter.endpoint: must be set for the openai backend")
        self.url = chat_completions_url(endpoint)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens

    def rewrite(self, prompt: str, task: str = "t2v", camera_fixed: bool = False) -> RewriteResult:
        text = check_request(prompt, task)
        language = detect_language(text)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": instruction_messages(text, task, language),
            "temperature": 0,  # deterministic where the server allows it
        }
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        reply = self._post(body)
        caption = clean_model_output(_content_of(reply, self.url))
        if not caption:
            raise RewriteError(f"rewriter endpoint {self.url} returned an empty caption")
        caption = finish_caption(caption, language, camera_fixed)
        return RewriteResult(caption=caption, backend=self.backend, task=task, language=language)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, body: dict[str, Any]) -> Any:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
        try:
            # The timeout bounds the connect and each read, so a stalled server cannot hang us.
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read(_MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as e:
            detail = _error_detail(e)
            raise RewriteError(f"rewriter endpoint {self.url} answered HTTP {e.code} {e.reason}{detail}") from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise RewriteError(f"rewriter endpoint {self.url} timed out after {self.timeout_s}s") from e
            raise RewriteError(f"rewriter endpoint {self.url} unreachable: {e.reason}") from e
        except TimeoutError as e:  # socket.timeout is an alias since 3.10
            raise RewriteError(f"rewriter endpoint {self.url} timed out after {self.timeout_s}s") from e
        except OSError as e:  # connection reset, broken pipe...
            raise RewriteError(f"rewriter endpoint {self.url} failed: {type(e).__name__}: {e}") from e
        if len(raw) > _MAX_RESPONSE_BYTES:
            raise RewriteError(f"rewriter endpoint {self.url} response is larger than {_MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RewriteError(f"rewriter endpoint {self.url} returned invalid JSON: {e}") from e


def _content_of(reply: Any, url: str) -> str:
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as e:
        raise RewriteError(f"rewriter endpoint {url} reply has no choices[0].message.content") from e
    if not isinstance(content, str):
        raise RewriteError(f"rewriter endpoint {url} reply content is {type(content).__name__}, not text")
    return content


def _error_detail(e: urllib.error.HTTPError) -> str:
    """A short excerpt of an error body (servers put the reason there)."""
    try:
        text = e.read(500).decode("utf-8", "replace").strip()
    except Exception:
        return ""
    return f": {' '.join(text.split())[:300]}" if text else ""
