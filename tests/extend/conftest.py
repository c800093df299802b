"""Real MCP servers for the extension tests: the SDK-built ``mcp_server.py`` over stdio and streamable HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).with_name("mcp_server.py")


def server_in(root: Path) -> Path:
    """A copy of the test server inside ``root``: a repository's server ships with the repository, and a sandboxed
    server sees the repository, not the checkout the tests run from (which may sit under /tmp, emptied there)."""
    copy = root / "mcp_server.py"
    copy.write_bytes(SERVER.read_bytes())
    return copy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_server(name: str = "web") -> tuple[subprocess.Popen[bytes], str]:
    """Start the server over streamable HTTP on a loopback port; (process, its MCP endpoint URL)."""
    port = free_port()
    env = {**os.environ, "TEST_MCP_NAME": name}
    proc = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the MCP HTTP server did not start")


@pytest.fixture
def mcp_http() -> Iterator[str]:
    proc, url = http_server()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def alive_with(marker: str) -> list[int]:
    """Host processes whose command line holds ``marker`` (a server that outlived its session)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
