"""The benchmark script in smoke mode (tiny shapes, one repetition), so it cannot rot.

It runs whether or not diffusers is installed: without it only our models run and every JSON
says so; with it the anchors (Wan transformer, Wan VAE, WanPipeline) run at tiny shapes too.
Results and the report go to a temp dir, never to benchmarks/results or docs/.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPECTED = {"dit_vs_wan", "dit_window_ablation", "dit_compile", "dit_scaling", "vae_decode", "vae_chunk_scaling",
            "pipeline", "kernels", "preset_gpu", "serving"}


def test_benchmark_smoke_run_writes_every_result_and_the_report(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(results) == EXPECTED  # CPU results are NAME.json (GPU ones would be NAME.cuda.json)
    has_diffusers = importlib.util.find_spec("diffusers") is not None
    for name, data in results.items():
        assert data["smoke"] and data["reps"] == 1, name
        assert "run.py --smoke" in data["command"]
        m = data["machine"]
        assert m["cpu_count"] >= 1 and m["torch"] and "platform" in m
        assert (m["diffusers"] is not None) == has_diffusers
        assert data["rows"], name
    dit = results["dit_vs_wan"]
    models = {r["model"] for r in dit["rows"]}
    if has_diffusers:
        assert "diffusers WanTransformer3DModel" in models
        wan, ours = (next(r for r in dit["rows"] if r["model"] == k)
                     for k in ("diffusers WanTransformer3DModel", "seedance (ours)"))
        assert abs(wan["params"] - ours["params"]) / ours["params"] < 0.01  # matched parameter counts
    else:
        assert models == {"seedance (ours)"}
        assert any("diffusers is not installed" in n for n in dit["notes"])
    for row in dit["rows"]:
        assert row["median_s"] > 0 and row["tokens_per_s"] > 0 and row["peak_mem_mb"] >= 0
    serving = results["serving"]
    assert [r["errors"] for r in serving["rows"] if "errors" in r] == [0, 0, 0]  # every concurrent run completed
    assert serving["idle_memory_mb"] > 0 and serving["processes"] > 3
    chunks = results["vae_chunk_scaling"]["rows"]
    assert all(r["max_abs_err_vs_one_shot"] < 1e-4 for r in chunks)
    report = (out / "BENCHMARKS.md").read_text()
    assert "## DiT forward" in report and "python benchmarks/run.py --smoke" in report
    assert "not measured: no GPU this session" in report or results["kernels"]["device"].startswith("cuda")
