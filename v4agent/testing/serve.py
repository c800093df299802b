"""Run the stand-in as its own process, for manual runs and benchmarks that keep client and server apart.

    python -m v4agent.testing.serve --script replies.json --record calls.jsonl
    python -m v4agent.testing.serve --echo --mode vllm --port 8123

Prints the base URL on the first line of stdout, then serves until SIGINT/SIGTERM. A script file is a JSON list
of replies: ``{"content", "reasoning", "tool_calls": [{"name", "arguments", "id"}], "finish_reason"}``. With
``--echo`` (the default when no script is given) a reply repeats the last user message once the script is used
up; without it, running out of script answers 500.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from v4agent.core.fsutil import atomic_write_text
from v4agent.testing.standin import StandIn
from v4agent.testing.v4render import content_text
from v4agent.testing.wire import ScriptedReply, ScriptedToolCall


def load_script(path: Path) -> list[ScriptedReply]:
    """Replies from a JSON file; raises ValueError with a clear message on a bad file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read script {path}: {exc}") from exc
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ValueError(f"script {path} must be a JSON list of reply objects")
    replies = []
    for item in raw:
        calls = tuple(ScriptedToolCall(str(c["name"]), str(c.get("arguments", "")), c.get("id"))
                      for c in item.get("tool_calls", []))
        replies.append(ScriptedReply(str(item.get("content", "")), str(item.get("reasoning", "")), calls,
                                     item.get("finish_reason")))
    return replies


def echo_reply(body: dict[str, Any]) -> ScriptedReply:
    """A reply that echoes the last user message, for runs without a script."""
    users = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    last = content_text(users[-1].get("content")) if users else ""
    return ScriptedReply(content=f"echo: {last}")


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM, printing the base URL first; ``--record`` saves every call on exit."""
    parser = argparse.ArgumentParser(prog="python -m v4agent.testing.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["deepseek", "vllm"], default="deepseek")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--api-key", default="sk-test", help="the bearer key to accept; '' accepts any")
    parser.add_argument("--interval", type=int, default=4096, help="cache unit interval in tokens (0: none)")
    parser.add_argument("--chunk-chars", type=int, default=7)
    parser.add_argument("--record", type=Path, help="write one JSON line per call here on exit")
    args = parser.parse_args(argv)
    try:
        replies = load_script(args.script) if args.script else []
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = StandIn(replies, echo_reply if args.echo or not args.script else None, mode=args.mode,
                     api_key=args.api_key or None, unit_interval=args.interval or None,
                     chunk_chars=args.chunk_chars, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        print(server.base_url, flush=True)
        stop.wait()
    if args.record:
        lines = [json.dumps(dataclasses.asdict(c), ensure_ascii=False) for c in server.calls]
        atomic_write_text(args.record, "".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
