"""A stdio MCP server as the SDK's transport: newline-delimited JSON-RPC over the process's pipes.

The SDK's own ``stdio_client`` cannot start a sandboxed server: bubblewrap tells the sandbox init's PID on an
extra file descriptor (``--info-fd``), which the child must inherit, and the SDK spawns with no ``pass_fds``.
So the process is started here (``anyio.open_process``) through ``v4agent.sandbox.launch`` when the server is
the repository's, and the SDK's ``Client`` drives the session over these streams. The framing is MCP's stdio
transport (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#stdio: "Messages are
delimited by newlines, and MUST NOT contain embedded newlines"); the shutdown is its lifecycle's (close stdin,
wait, then SIGTERM, then SIGKILL: .../basic/lifecycle#shutdown), applied to the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread
import mcp_types as types
from anyio.abc import Process
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage

__all__ = ["MAX_LINE_BYTES", "stdio_transport"]

MAX_LINE_BYTES = 16 << 20  # one message past this is a broken or hostile server: it is stopped
_EXIT_GRACE_S = 2.0
_TERM_GRACE_S = 1.0


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:  # the session surfaces it to the caller waiting on a reply
        return exc


async def _exited(process: Process, within: float) -> bool:
    with anyio.move_on_after(within):
        await process.wait()
        return True
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _stop(process: Process) -> None:
    """Close stdin, give the server a moment, then end its whole process group."""
    if process.stdin is not None:
        with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.aclose()
    if not await _exited(process, _EXIT_GRACE_S):
        _signal_group(process.pid, signal.SIGTERM)
        if not await _exited(process, _TERM_GRACE_S):
            _signal_group(process.pid, signal.SIGKILL)
            await _exited(process, _TERM_GRACE_S)
    _signal_group(process.pid, signal.SIGKILL)  # anything the leader left in its group goes with it


@contextlib.asynccontextmanager
async def stdio_transport(argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, errlog: IO[Any],
                          pass_fds: Sequence[int] = ()) -> AsyncIterator[TransportStreams]:
    """Start ``argv`` in its own process group and yield the SDK's (read, write) streams over its pipes."""
    process = await anyio.open_process(list(argv), env=dict(env), cwd=cwd, stderr=errlog, start_new_session=True,
                                       pass_fds=tuple(pass_fds))
    to_session, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, from_session = anyio.create_memory_object_stream[SessionMessage](0)

    async def reader() -> None:
        assert process.stdout is not None
        buffer = b""
        async with to_session:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                async for chunk in process.stdout:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            await to_session.send(_parse(line))
                    if len(buffer) > MAX_LINE_BYTES:
                        await to_session.send(ValueError(f"a message longer than {MAX_LINE_BYTES} bytes"))
                        _signal_group(process.pid, signal.SIGKILL)
                        return

    async def writer() -> None:
        assert process.stdin is not None
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            async with from_session:
                async for message in from_session:
                    text = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(text.encode("utf-8") + b"\n")
        await to_session.aclose()  # the server stopped reading: no reply will come

    async with anyio.create_task_group() as group:
        group.start_soon(reader)
        group.start_soon(writer)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
            group.cancel_scope.cancel()


async def close_in_thread(stack: contextlib.ExitStack) -> None:
    """Leave a synchronous context (the sandbox's launch waits for its init to end) without blocking the loop."""
    await anyio.to_thread.run_sync(stack.close)
