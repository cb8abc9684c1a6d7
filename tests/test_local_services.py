"""The loopback servers the platform and the tests start (services/local.py)."""

from __future__ import annotations

import socket

from minio import Minio

from seedance.services.local import LocalSeaweedFS


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
