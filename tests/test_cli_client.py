"""`seedance client` against a real gRPC server on loopback (the reference server, tiny model)."""

from __future__ import annotations

import pytest

from seedance.cli.main import main
from seedance.model.bundle import default_bundle
from seedance.model.media import read_video
from seedance.model.pipeline import SeedancePipeline
from seedance.services.reference_server import ReferenceServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ReferenceServer(SeedancePipeline(default_bundle()), tmp_path_factory.mktemp("served"),
                         api_keys={"secret-key"}) as srv:
        yield srv


def test_generate_status_list_cancel(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEEDANCE_API_KEY", "secret-key")
    out = tmp_path / "x.mp4"
    base = ["client", "--endpoint", server.endpoint]
    assert main([*base, "generate", "a red circle moves to the right", "-o", str(out), "--frames", "5",
                 "--steps", "1", "--seed", "3", "-q"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "seed 3" in printed
    assert read_video(out)[0].shape == (5, 64, 64, 3)
    task_id = printed.split("(task ")[1].split(",")[0]
    assert main([*base, "status", task_id]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert main([*base, "list", "--status", "succeeded"]) == 0
    assert task_id in capsys.readouterr().out
    assert main([*base, "cancel", "no-such-task"]) == 2
    assert "task_id" in capsys.readouterr().err


def test_bad_input_and_missing_key_are_one_line_errors(server, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    assert main(["client", "--endpoint", server.endpoint, "list"]) == 2
    assert capsys.readouterr().err.startswith("seedance: error:")
    key = tmp_path / "key"
    key.write_text("secret-key\n")
    code = main(["client", "--endpoint", server.endpoint, "--api-key-file", str(key), "generate", "x",
                 "-o", str(tmp_path / "y.mp4"), "--frames", "16", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "frames" in err[-1] and len(err) == 1
