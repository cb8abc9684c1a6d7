"""Prompt rewriter backends: template, a real tiny local transformers LM, and an OpenAI-compatible
endpoint served by a real loopback http.server."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach a hub

from transformers import Qwen2Config, Qwen2ForCausalLM

from seedance.errors import ConfigError, InvalidRequestError, RewriteError
from seedance.model.config import RewriterConfig
from seedance.model.rewriter import (
    OpenAIRewriter,
    RewriteResult,
    TemplateRewriter,
    TransformersRewriter,
    build_rewriter,
    detect_language,
)
from seedance.model.rewriter.local_lm import build_model_prompt
from seedance.model.rewriter.openai_api import chat_completions_url
from seedance.model.text import build_byte_tokenizer

# --- template --------------------------------------------------------------------------------


def test_detect_language() -> None:
    assert [detect_language(t) for t in ("a cat on a mat", "a cat 在草地上", "")] == ["en", "zh", "en"]
    assert detect_language("こんにちは") == "en"  # kana alone is not Chinese


def test_template_english() -> None:
    r = TemplateRewriter().rewrite("  a cat   jumps onto the table ,then sleeps!!! ")
    assert r == RewriteResult(caption=r.caption, backend="template", task="t2v", language="en")
    assert r.caption.startswith("A cat jumps onto the table, then sleeps! The scene is a single continuous shot.")
    assert "  " not in r.caption and r.caption.endswith(".")
    assert "camera is fixed" not in r.caption


def test_template_strips_request_boilerplate_and_makes_sentences() -> None:
    r = TemplateRewriter().rewrite("generate a video of a dog running on the beach. it wags its tail")
    assert r.caption.startswith("A dog running on the beach. It wags its tail. ")
    assert TemplateRewriter().rewrite("make a video of").caption.startswith("Make a video of. ")


def test_template_chinese() -> None:
    r = TemplateRewriter().rewrite("请生成一段视频：一只小猫  在草地上追蝴蝶,阳光明媚")
    assert r.language == "zh" and r.backend == "template"
    assert r.caption.startswith("一只小猫在草地上追蝴蝶，阳光明媚。画面为一个连续镜头。")
    assert " " not in r.caption and r.caption.endswith("。")


def test_t2v_i2v_and_camera_fixed() -> None:
    rw = TemplateRewriter()
    t2v, i2v = rw.rewrite("a cat jumps", "t2v"), rw.rewrite("a cat jumps", "i2v")
    assert t2v.caption != i2v.caption and (t2v.task, i2v.task) == ("t2v", "i2v")
    assert i2v.caption.startswith("The subject in the first frame ")
    assert rw.rewrite("小猫跳起来", "i2v").caption.startswith("首帧中的主体")
    # camera_fixed
    assert rw.rewrite("a cat jumps", camera_fixed=True).caption.endswith(". The camera is fixed.")
    assert rw.rewrite("小猫跳起来", "i2v", camera_fixed=True).caption.endswith("。镜头固定。")


def test_template_is_deterministic() -> None:
    cases = [(p, t, c) for p in ("a cat jumps", "小猫跳起来", "A Robot dances, slowly...")
             for t in ("t2v", "i2v") for c in (False, True)]
    assert [TemplateRewriter().rewrite(*c) for c in cases] == [TemplateRewriter().rewrite(*c) for c in cases]


@pytest.mark.parametrize("prompt, task, field", [
    ("", "t2v", "prompt"), ("   ", "i2v", "prompt"), ("\n\t", "t2v", "prompt"), ("a cat", "t2i", "task"),
])
def test_invalid_requests_rejected_by_every_backend(prompt: str, task: str, field: str, tmp_path: Path) -> None:
    backends = [
        TemplateRewriter(),
        TransformersRewriter(tmp_path / "missing"),  # checked before any load
        OpenAIRewriter("http://127.0.0.1:9", timeout_s=0.1),  # never contacted
    ]
    for rw in backends:
        with pytest.raises(InvalidRequestError) as info:
            rw.rewrite(prompt, task)
        assert info.value.field == field
        assert field == "task" or info.value.rule == "must not be empty"


def test_build_rewriter(tmp_path: Path) -> None:
    assert isinstance(build_rewriter(RewriterConfig()), TemplateRewriter)
    lm = build_rewriter(RewriterConfig(backend="transformers", path="pe"), model_dir=tmp_path)
    assert isinstance(lm, TransformersRewriter) and lm.path == tmp_path / "pe"
    absolute = build_rewriter(RewriterConfig(backend="transformers", path=str(tmp_path / "x")), Path("/else"))
    assert absolute.path == tmp_path / "x"
    api = build_rewriter(RewriterConfig(backend="openai", endpoint="http://h:1/", model="m", timeout_s=0.25))
    assert isinstance(api, OpenAIRewriter) and api.url == "http://h:1/v1/chat/completions"
    assert api.timeout_s == 0.25 and api.model == "m"
    for bad in (RewriterConfig(backend="transformers"), RewriterConfig(backend="openai")):
        with pytest.raises(ConfigError):
            build_rewriter(bad)
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://h/api/chat/completions") == "https://h/api/chat/completions"


# --- transformers (a real, tiny, random-init causal LM on disk) ------------------------------

MAX_NEW = 10


def _save_tiny_lm(directory: Path, lm_head: Callable[[torch.Tensor, int, int], None]) -> Path:
    tok = build_byte_tokenizer(512)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=512, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
        intermediate_size=64, tie_word_embeddings=False,
    ))
    a, b = tok.convert_tokens_to_ids(["a", "b"])
    with torch.no_grad():
        lm_head(model.lm_head.weight, a, b)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def _only_a_or_b(weight: torch.Tensor, a: int, b: int) -> None:
    # Rows +v / -v and zeros elsewhere: for any hidden state one of "a", "b" has a positive logit
    # and wins, so greedy output is a non-empty string over {a, b}, whatever the random weights.
    weight.zero_()
    v = torch.randn(weight.shape[1])
    weight[a], weight[b] = v, -v


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny_lm(tmp_path_factory.mktemp("pe"), _only_a_or_b)


def test_transformers_rewriter_generates(tiny_lm: Path) -> None:
    rw = TransformersRewriter(tiny_lm, max_new_tokens=MAX_NEW, num_beams=1)  # greedy (the default): the weights force {a, b}
    r = rw.rewrite("a cat jumps")
    assert (r.backend, r.task, r.language) == ("transformers", "t2v", "en")
    assert len(r.caption) == MAX_NEW and set(r.caption) <= {"a", "b"}
    assert rw.rewrite("a cat jumps") == r  # greedy: stable across calls
    assert TransformersRewriter(tiny_lm, max_new_tokens=MAX_NEW, num_beams=1).rewrite("a cat jumps") == r  # loads
    fixed = rw.rewrite("一只猫", "i2v", camera_fixed=True)
    assert fixed.language == "zh" and fixed.task == "i2v"
    assert fixed.caption.endswith("。镜头固定。") and set(fixed.caption[:MAX_NEW]) <= {"a", "b"}


def test_transformers_rewriter_uses_the_configured_beam_width(tiny_lm: Path) -> None:
    seen = []
    rw = TransformersRewriter(tiny_lm, max_new_tokens=MAX_NEW, num_beams=3)
    _tok, model = rw._load()
    generate = model.generate
    model.generate = lambda **kw: seen.append(kw) or generate(**kw)
    assert set(rw.rewrite("a cat jumps").caption) <= {"a", "b"}
    assert seen[-1]["num_beams"] == 3 and seen[-1]["do_sample"] is False
    model_dir = tiny_lm.parent
    built = build_rewriter(RewriterConfig(backend="transformers", path=tiny_lm.name, num_beams=2), model_dir)
    assert built.num_beams == 2
    with pytest.raises(ConfigError, match=r"rewriter\.num_beams"):
        RewriterConfig(backend="transformers", path="x", num_beams=0)


def test_transformers_rewriter_prompts() -> None:
    tok = build_byte_tokenizer(512)
    t2v = build_model_prompt(tok, "a cat", "t2v", "en")
    i2v = build_model_prompt(tok, "a cat", "i2v", "en")
    assert t2v != i2v and t2v.startswith("Task: ") and t2v.endswith("Prompt: a cat\nCaption:")
    tok.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    chat = build_model_prompt(tok, "一只猫", "i2v", "zh")
    assert chat.startswith("<system>") and "<user>一只猫\n" in chat and chat.endswith("<assistant>")


def test_transformers_rewriter_failures(tmp_path: Path) -> None:
    # All logits 0 -> greedy picks id 0, <pad>, a special token: the decoded text is empty.
    silent = TransformersRewriter(_save_tiny_lm(tmp_path / "silent", lambda w, a, b: w.zero_()), max_new_tokens=4)
    with pytest.raises(RewriteError, match="empty caption"):
        silent.rewrite("a cat")
    rw = TransformersRewriter(tmp_path / "nope")  # lazy: constructing does not load
    with pytest.raises(RewriteError, match="not found"):
        rw.rewrite("a cat")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(RewriteError, match="cannot load"):
        TransformersRewriter(tmp_path / "broken").rewrite("a cat")


# --- OpenAI-compatible endpoint on a loopback http.server ------------------------------------

Behaviour = Callable[[BaseHTTPRequestHandler, dict], None]


class _Endpoint:
    """A real HTTP server on 127.0.0.1; each test sets `behaviour` and reads `requests`."""

    def __init__(self) -> None:
        self.behaviour: Behaviour = _reply({"choices": [{"message": {"content": "ok"}}]})
        self.requests: list[tuple[str, dict[str, str], dict]] = []
        self.release = threading.Event()  # wakes handlers that stall on purpose
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                endpoint.requests.append((self.path, dict(self.headers), body))
                endpoint.behaviour(self, body)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _reply(payload: bytes | object, status: int = 200) -> Behaviour:
    if not isinstance(payload, bytes):
        payload = json.dumps(payload, ensure_ascii=False).encode()

    def behaviour(handler: BaseHTTPRequestHandler, body: dict) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return behaviour


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Endpoint]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # loopback must not go through a proxy
    server = _Endpoint()
    yield server
    server.close()


def test_openai_success_sends_key_and_returns_content(endpoint: _Endpoint, monkeypatch) -> None:
    monkeypatch.setenv("TEST_PE_KEY", "sk-test-123")
    endpoint.behaviour = _reply({"choices": [{"message": {"content": " A cat leaps.\n\nExtra notes "}}]})
    rw = OpenAIRewriter(endpoint.url, model="pe-model", api_key_env="TEST_PE_KEY", timeout_s=5)
    r = rw.rewrite("a cat jumps", "i2v", camera_fixed=True)
    assert r == RewriteResult("A cat leaps. The camera is fixed.", "openai", "i2v", "en")
    path, headers, body = endpoint.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test-123"
    assert body["model"] == "pe-model" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "a cat jumps"
    # t2v asks for a different rewrite than i2v
    rw.rewrite("a cat jumps", "t2v")
    assert endpoint.requests[1][2]["messages"][0] != body["messages"][0]


def test_openai_without_key_sends_no_auth(endpoint: _Endpoint, monkeypatch) -> None:
    monkeypatch.delenv("TEST_PE_KEY", raising=False)
    endpoint.behaviour = _reply({"choices": [{"message": {"content": "一只猫跳起来"}}]})
    r = OpenAIRewriter(endpoint.url + "/v1", api_key_env="TEST_PE_KEY", timeout_s=5).rewrite("猫", camera_fixed=True)
    assert r.caption == "一只猫跳起来。镜头固定。" and r.language == "zh"
    assert "Authorization" not in endpoint.requests[0][1]


def test_openai_http_error(endpoint: _Endpoint, monkeypatch) -> None:
    monkeypatch.setenv("TEST_PE_KEY", "sk-secret")
    endpoint.behaviour = _reply({"error": "overloaded"}, status=500)
    with pytest.raises(RewriteError, match="500") as info:
        OpenAIRewriter(endpoint.url, api_key_env="TEST_PE_KEY", timeout_s=5).rewrite("a cat")
    assert "sk-secret" not in str(info.value)


@pytest.mark.parametrize("payload, match", [
    (b"<html>not json</html>", "invalid JSON"),
    (b'{"choices": []}', "choices"),
    (b'{"choices": [{"message": {"content": "   "}}]}', "empty"),
    (b'{"choices": [{"message": {"content": null}}]}', "not text"),
])
def test_openai_malformed_replies(endpoint: _Endpoint, payload: bytes, match: str) -> None:
    endpoint.behaviour = _reply(payload)
    with pytest.raises(RewriteError, match=match):
        OpenAIRewriter(endpoint.url, timeout_s=5).rewrite("a cat")


def test_openai_timeout(endpoint: _Endpoint) -> None:
    def stall(handler: BaseHTTPRequestHandler, body: dict) -> None:
        endpoint.release.wait(timeout=5)  # bounded; teardown releases it at once

    endpoint.behaviour = stall
    with pytest.raises(RewriteError, match="timed out"):
        OpenAIRewriter(endpoint.url, timeout_s=0.5).rewrite("a cat")


def test_openai_unreachable(endpoint: _Endpoint) -> None:
    endpoint.close()  # the port is now closed: connection refused (closing twice is harmless)
    with pytest.raises(RewriteError, match="unreachable"):
        OpenAIRewriter(endpoint.url, timeout_s=2).rewrite("a cat")
