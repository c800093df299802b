"""A real MCP server built with the official SDK, for the tests and the bench: `python mcp_server.py [http PORT]`.

Its tools exercise what a client must survive: secrets and huge output in results, a crash mid-session, a slow
call, a tool list that changes, the environment and the network it was given.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

NAME = os.environ.get("TEST_MCP_NAME", "demo")
server = MCPServer(NAME)


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def leak() -> str:
    """Return a result that carries a private key and an API key."""
    return ("token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + "\n-----BEGIN RSA PRIVATE KEY-----\n"
            + "MIIEpAIBAAKCAQEA7V1bXoQ2mE3aKZ1yq8xT0r9b\n" * 3 + "-----END RSA PRIVATE KEY-----\n")


@server.tool()
def big(chars: int) -> str:
    """Return this many characters."""
    return "x" * chars


@server.tool()
def crash() -> str:
    """Exit the server process at once."""
    os._exit(3)


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "slept"


@server.tool()
def pid() -> str:
    """The server's process id, and its parent's."""
    return f"{os.getpid()} {os.getppid()}"


@server.tool()
def getenv(name: str) -> str:
    """One environment variable of the server, or (unset)."""
    return os.environ.get(name, "(unset)")


@server.tool()
def connect(port: int) -> str:
    """Try a TCP connection to the loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"


@server.tool()
def write(path: str, text: str) -> str:
    """Write a file (a path outside the repository must fail in the sandbox)."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        return f"failed: {exc}"
    return "written"


@server.tool()
async def grow(ctx: Context) -> str:  # type: ignore[type-arg]
    """Add a tool and tell the client its tool list changed."""
    server.add_tool(lambda: "new", name="late_tool", description="Added mid-session.")
    await ctx.notify_tools_changed()
    return "grown"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
