"""Every MCP connection of a session on one background event loop, called synchronously by the tool runner.

The agent loop is synchronous and the SDK is async, so the hub runs an asyncio loop in a daemon thread; each
server is one task that holds its ``Client`` open until ``close``. Tools are listed once, at ``start``, and
frozen: they are part of the cached prefix. A server that fails to start, or dies later, is a notice; its tools
then answer errors. ``close`` stops every server process (stdio: stdin closed, then its process group ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.stdio import get_default_environment
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from v4agent import __version__
from v4agent.engine.types import ToolSchema
from v4agent.extend.mcp.config import McpServerSpec
from v4agent.extend.mcp.listings import cache_dir, load_listing, save_listing
from v4agent.extend.mcp.tools import McpTool, call_arguments, finished_result, render_tool, result_text
from v4agent.extend.mcp.transport import close_in_thread, stdio_transport
from v4agent.sandbox import SandboxPolicy, containment, launch
from v4agent.tools.tool import ToolResult

__all__ = ["McpHub", "ServerStatus"]

START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 300.0
_LIST_PAGES = 50
_ERR_TAIL = 600


@dataclass(frozen=True)
class ServerStatus:
    """How one server's start went: its tools (qualified names), or why it has none."""

    spec: McpServerSpec
    tools: tuple[str, ...]
    error: str = ""
    left_out: tuple[str, ...] = ()  # tools not offered, and why

    @property
    def ok(self) -> bool:
        """Whether the server started and listed its tools."""
        return not self.error


class _Conn:
    """One server's live state, touched only on the hub's loop (and read under the GIL elsewhere)."""

    def __init__(self, spec: McpServerSpec) -> None:
        self.spec = spec
        self.client: Client | None = None
        self.error = ""
        self.dead = ""  # why calls now fail: the server stopped
        self.listed: list[Any] = []
        self.changed = False
        self.finished: Future[None] = Future()  # set when its task has left the transport (process stopped)
        self.errlog: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - open for the server's life, closed by the hub

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self.errlog.seek(0, os.SEEK_END)
            size = self.errlog.tell()
            self.errlog.seek(max(0, size - _ERR_TAIL))
            text = self.errlog.read().decode("utf-8", "replace").strip()
            return f"; its stderr ends: {' | '.join(text.splitlines()[-4:])}" if text else ""
        return ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "…"


class McpHub:
    """The session's MCP servers: started once, tools frozen, calls answered synchronously, stopped at close."""

    def __init__(self, specs: Sequence[McpServerSpec], *, root: Path, sandbox: SandboxPolicy | None,
                 notice: Callable[[str], None] | None = None, start_timeout_s: float = START_TIMEOUT_S,
                 call_timeout_s: float = CALL_TIMEOUT_S, listings: Path | None = None) -> None:
        self.root = Path(root)
        self.sandbox = sandbox
        self.notice = notice or (lambda line: None)
        self.start_timeout_s = start_timeout_s
        self.call_timeout_s = call_timeout_s
        self.listings = listings if listings is not None else cache_dir()
        self._conns = {spec.name: _Conn(spec) for spec in specs}
        self._tools: dict[str, McpTool] = {}
        self.statuses: tuple[ServerStatus, ...] = ()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: list[Future[None]] = []
        self._reported_changes: set[str] = set()

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> tuple[ServerStatus, ...]:
        """Start every server at once, wait for each to list its tools (or fail), and freeze the tool list."""
        if not self._conns:
            return ()
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="v4agent-mcp", daemon=True)
        self._thread.start()
        self._stop = self._run(self._make_event(), 10.0)
        readies = []
        for conn in self._conns.values():
            ready: Future[None] = Future()
            task = asyncio.run_coroutine_threadsafe(self._serve(conn, ready), loop)
            readies.append((conn, ready, task))
            self._tasks.append(task)
        deadline = time.monotonic() + self.start_timeout_s
        for conn, ready, task in readies:
            try:
                ready.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                conn.error = f"did not start within {self.start_timeout_s:g}s{conn.stderr_tail()}"
                task.cancel()  # its process is stopped as the cancelled task leaves the transport
                with contextlib.suppress(Exception):
                    conn.finished.result(timeout=10.0)
        self.statuses = tuple(self._freeze(conn) for conn in self._conns.values())
        for status in self.statuses:
            if status.error:
                self.notice(f"MCP server {status.spec.name} is not available: {status.error}; its tools answer errors")
            for why in status.left_out:
                self.notice(f"MCP server {status.spec.name}: left out {why}")
        return self.statuses

    def close(self) -> None:
        """Stop every server and the loop; waits for the processes to end (bounded)."""
        loop = self._loop
        if loop is None:
            return
        self._loop = None
        if self._stop is not None:
            loop.call_soon_threadsafe(self._stop.set)
        for conn, task in zip(self._conns.values(), self._tasks, strict=True):
            with contextlib.suppress(Exception):
                conn.finished.result(timeout=15.0)
            if not conn.finished.done():  # stuck past its shutdown: cancelling it still runs the transport's stop
                task.cancel()
                with contextlib.suppress(Exception):
                    conn.finished.result(timeout=10.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for conn in self._conns.values():
            conn.errlog.close()

    def __enter__(self) -> McpHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the model sees ----------------------------------------------------------------------------------

    @property
    def tools(self) -> tuple[McpTool, ...]:
        """The frozen tools, sorted by qualified name."""
        return tuple(self._tools[name] for name in sorted(self._tools))

    def schemas(self) -> list[ToolSchema]:
        """The tool schemas as sent: sorted by name, built once at start."""
        return [copy.deepcopy(tool.schema) for tool in self.tools]

    def owns(self, name: str) -> bool:
        """Whether ``name`` is one of this session's MCP tools."""
        return name in self._tools

    def spec_of(self, name: str) -> McpServerSpec | None:
        """The server behind a qualified tool name."""
        tool = self._tools.get(name)
        return self._conns[tool.server].spec if tool is not None else None

    def call(self, name: str, arguments: str) -> ToolResult:
        """Call one tool; every failure (bad arguments, a dead server, a timeout) is an error result."""
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult(f"unknown MCP tool {name!r}", False)
        conn = self._conns[tool.server]
        try:
            args = call_arguments(arguments)
        except ValueError as exc:
            return ToolResult(f"{name}: bad arguments: {exc}", False)
        self._report_change(conn)
        if conn.client is None or conn.dead or self._loop is None:
            why = conn.dead or conn.error or "it is not running"
            return ToolResult(f"{name}: MCP server {tool.server} is not available ({why})", False)
        future = asyncio.run_coroutine_threadsafe(self._call(conn, tool.name, args), self._loop)
        try:
            text, ok = future.result(timeout=self.call_timeout_s + 5)
        except FutureTimeout:
            future.cancel()
            return ToolResult(f"{name}: no answer within {self.call_timeout_s:g}s", False)
        except BaseException:
            future.cancel()  # Ctrl-C: the call is abandoned, the server keeps running
            raise
        return finished_result(text, ok)

    # -- on the loop ------------------------------------------------------------------------------------------

    def _run(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    @staticmethod
    async def _make_event() -> asyncio.Event:
        return asyncio.Event()

    async def _serve(self, conn: _Conn, ready: Future[None]) -> None:
        try:
            async with AsyncExitStack() as stack:
                conn.client = await stack.enter_async_context(self._client(conn, stack))
                conn.listed = await self._list(conn.client)
                ready.set_result(None)
                assert self._stop is not None
                async with anyio.create_task_group() as group:
                    group.start_soon(self._watch, conn, conn.client)
                    await self._stop.wait()
                    group.cancel_scope.cancel()
        except BaseException as exc:  # any failure of one server is that server's notice
            if not ready.done():
                conn.error = conn.error or _describe(exc) + conn.stderr_tail()
            elif not conn.dead:
                conn.dead = f"it stopped: {_describe(exc)}"
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            conn.client = None
            if not ready.done():
                ready.set_result(None)
            conn.finished.set_result(None)

    def _client(self, conn: _Conn, stack: AsyncExitStack) -> Client:
        spec = conn.spec

        async def on_message(message: Any) -> None:
            method = getattr(getattr(message, "root", message), "method", "")
            if method == "notifications/tools/list_changed":
                conn.changed = True

        kwargs: dict[str, Any] = {"message_handler": on_message, "cache": None,
                                  "client_info": types.Implementation(name="v4agent", version=__version__)}
        if spec.transport == "http":
            http = create_mcp_http_client(headers=dict(spec.headers))
            return Client(streamable_http_client(spec.url, http_client=http), **kwargs)
        return Client(self._stdio(conn, stack), **kwargs)

    def _stdio(self, conn: _Conn, stack: AsyncExitStack) -> Any:
        spec = conn.spec
        argv = [spec.command, *spec.args]
        if not spec.sandboxed:
            return stdio_transport(argv, env=get_default_environment() | dict(spec.env), cwd=self.root,
                                   errlog=conn.errlog)
        if self.sandbox is None or not containment(self.sandbox).available:
            raise RuntimeError("a repository's MCP server runs only in the sandbox, and there is none here "
                               "(see `v4agent sandbox check`)")
        names = tuple(name for name, _ in spec.env)
        policy = replace(self.sandbox, network=spec.network, env=(*self.sandbox.env, *names))
        sync = contextlib.ExitStack()
        how = sync.enter_context(launch(policy, argv, cwd=self.root, environ={**os.environ, **dict(spec.env)}))
        stack.push_async_callback(close_in_thread, sync)
        return stdio_transport(how.argv, env=how.env, cwd=self.root, errlog=conn.errlog, pass_fds=how.pass_fds)

    @staticmethod
    async def _watch(conn: _Conn, client: Client) -> None:
        """Note a changed tool list: a 2026-07-28 server tells it on a ``subscriptions/listen`` stream (an older
        one sends ``notifications/tools/list_changed`` to the message handler)."""
        with contextlib.suppress(Exception):
            async with client.listen(tools_list_changed=True) as events:
                async for _event in events:
                    conn.changed = True

    @staticmethod
    async def _list(client: Client) -> list[Any]:
        tools: list[Any] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGES):  # a server that pages forever cannot hang the start
            page = await client.list_tools(cursor=cursor)
            tools += list(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def _call(self, conn: _Conn, tool: str, args: dict[str, Any]) -> tuple[str, bool]:
        client = conn.client
        if client is None:
            return f"MCP server {conn.spec.name} is not available ({conn.dead or 'it stopped'})", False
        try:
            result = await client.call_tool(tool, args, read_timeout_seconds=self.call_timeout_s)
        except Exception as exc:  # a protocol error, a closed connection: the model is told
            if conn.client is None or "closed" in str(exc).lower() or isinstance(exc, (OSError, EOFError)):
                conn.dead = conn.dead or f"it stopped: {_describe(exc)}"
            return f"MCP server {conn.spec.name}: {_describe(exc)}", False
        return result_text(result), not bool(getattr(result, "is_error", False))

    # -- freezing ---------------------------------------------------------------------------------------------

    def _freeze(self, conn: _Conn) -> ServerStatus:
        error = conn.error or ("" if conn.client is not None else "it stopped while starting")
        listed = conn.listed
        if error:
            listed = load_listing(self.listings, conn.spec)
            if listed:
                error += f"; its {len(listed)} tools from an earlier session are offered, and answer errors"
        else:
            save_listing(self.listings, conn.spec, listed)
        names: list[str] = []
        left_out: list[str] = []
        for item in listed:
            tool = render_tool(conn.spec.name, item)
            if isinstance(tool, str):
                left_out.append(tool)
            elif tool.qualified in self._tools:
                left_out.append(f"tool {tool.name!r}: its name {tool.qualified} is taken")
            else:
                self._tools[tool.qualified] = tool
                names.append(tool.qualified)
        return ServerStatus(conn.spec, tuple(sorted(names)), error, tuple(left_out))

    def _report_change(self, conn: _Conn) -> None:
        if conn.changed and conn.spec.name not in self._reported_changes:
            self._reported_changes.add(conn.spec.name)
            self.notice(f"MCP server {conn.spec.name} says its tool list changed; this session keeps the tools it "
                        "started with (the prompt cache depends on them): start a new session to use the new list")

