"""Starting the docker/ entrypoints with the machine's own binaries, for the deployment tests."""

from __future__ import annotations

import socket
import subprocess
import time


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Return once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + 20  # a guard against a hung start, not a measurement
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answers on port {port}")
        time.sleep(0.05)


def start(argv: list[str], env: dict[str, str], *ports: int) -> subprocess.Popen[bytes]:
    """Run ``argv`` and wait until each of ``ports`` answers; fail with its stderr if not."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for port in ports:
            wait_port(port, proc)
    except RuntimeError as exc:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"{argv[2]} did not start ({exc}): {err.decode()}") from None
    return proc
