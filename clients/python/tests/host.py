"""A real `wasmboost serve` for the client tests: started on a free loopback port with a
temporary data dir, `add` and `flaky` deployed, an admin token minted; killed by PID on stop.

The binary is `$WASMBOOST_BIN`, else `$CARGO_TARGET_DIR/debug/wasmboost` (default `target/`);
the components come from `make examples guests`. `make test` builds all three first."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LISTEN_MARKER = "wasmboost listening on "
START_DEADLINE = 120.0


def binary() -> Path:
    if os.environ.get("WASMBOOST_BIN"):
        return Path(os.environ["WASMBOOST_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return target / "debug" / "wasmboost"


def component(workspace: str, name: str) -> Path:
    return ROOT / workspace / "target" / "wasm32-wasip2" / "release" / f"{name}.wasm"


def _need(path: Path, make: str) -> Path:
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run `make {make}` first (make test does)")
    return path


class Host:
    """One running host; `addr` is `http://127.0.0.1:PORT`, `admin` an admin token."""

    def __init__(self, config: str = "[queues.add]\nconcurrency = 8\n[queues.flaky]\nmax_retries = 0\n") -> None:
        self._temp = tempfile.TemporaryDirectory(prefix="wasmboost-client-")
        config_path = Path(self._temp.name) / "wasmboost.toml"
        config_path.write_text(config)
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            [str(_need(binary(), "build")), "serve", "--listen", "127.0.0.1:0",
             "--data-dir", str(Path(self._temp.name) / "data"), "--config", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        found = threading.Event()
        self.addr = ""

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line.rstrip())
                if LISTEN_MARKER in line and not found.is_set():
                    self.addr = line.split(LISTEN_MARKER, 1)[1].split()[0]
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(START_DEADLINE):
            self.stop()
            raise RuntimeError("wasmboost serve did not start:\n" + "\n".join(self.log[-40:]))
        self._wait_healthy()
        self.admin = self.cli("token", "create", "--scope", "admin")
        self.deploy("add", _need(component("examples", "add"), "examples"))
        self.deploy("flaky", _need(component("tests/guests", "flaky"), "guests"))

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.addr}/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("host not healthy:\n" + "\n".join(self.log[-40:]))

    def cli(self, *args: str, token: str | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WASMBOOST_")}
        env["WASMBOOST_ADDR"] = self.addr
        token = token or getattr(self, "admin", None)
        if token:
            env["WASMBOOST_TOKEN"] = token
        out = subprocess.run([str(binary()), *args], env=env, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"wasmboost {' '.join(args)}: {out.stderr}")
        return out.stdout.strip()

    def http(self, method: str, path: str, body: bytes = b"", content_type: str = "application/json") -> bytes:
        request = urllib.request.Request(
            f"{self.addr}{path}", data=body if method != "GET" else None, method=method,
            headers={"Authorization": f"Bearer {self.admin}", "Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            return bytes(r.read())

    def deploy(self, queue: str, wasm: Path) -> None:
        self.http("PUT", f"/v1/queues/{queue}/module", wasm.read_bytes(), "application/wasm")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self._temp.cleanup()
