"""The loopback servers the platform and the tests start (services/local.py)."""

from __future__ import annotations

import socket

import pytest
import redis
from minio import Minio

from seedance.services.local import LocalRedis, LocalSeaweedFS


def test_seaweedfs_starts_again_on_fresh_ports_when_one_was_taken(tmp_path, capsys):
    server = LocalSeaweedFS(tmp_path / "s3")
    taken = server.ports["filer.port"]
    # Another process grabs a picked port before the server binds it (what made a suite run fail).
    with socket.create_server(("127.0.0.1", taken)), server:
        assert server.ports["filer.port"] != taken
        s = server.settings
        assert s.endpoint == f"127.0.0.1:{server.ports['s3.port']}"
        client = Minio(s.endpoint, access_key=s.access_key, secret_key=s.secret_key, secure=False, region=s.region)
        assert client.bucket_exists(s.bucket)
    assert "retrying on fresh ports (1/3)" in capsys.readouterr().err


def test_redis_starts_again_on_a_fresh_port_and_never_takes_another_redis_for_its_own(tmp_path, capsys):
    with LocalRedis(tmp_path / "a") as first:
        second = LocalRedis(tmp_path / "b")
        second.port = first.port  # the picked port went to another Redis before ours bound it
        with second:
            assert second.port != first.port
            info = redis.Redis.from_url(second.url).info("server")
            assert info["process_id"] == second.proc.pid != first.proc.pid
        assert "redis: a port was taken before the server bound it; retrying" in capsys.readouterr().err
        # A port the caller chose is not swapped: the failure is reported instead.
        with pytest.raises(RuntimeError, match=r"(?i)address already in use"):
            LocalRedis(tmp_path / "c", port=first.port).start()
