"""Client benchmarks: overhead per streamed call against the stand-in, and stream parse throughput.

    python bench/bench_client.py [--calls 200] [--tokens 200000]

Overhead = median time of ``RemoteEngine.complete`` (openai SDK + our SSE assembly + retry wrapper) minus the
median time of the same request sent on a kept-alive bare ``http.client`` connection that reads the whole SSE
body (the server's own time). The stand-in runs in its own process. Throughput = SSE lines -> deltas -> ChatReply through ``iter_sse_data`` and
``StreamAssembler``, one token per chunk as DeepSeek streams them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlparse

from v4agent.engine.client import RemoteEngine
from v4agent.engine.presets import get_preset
from v4agent.engine.stream import StreamAssembler, iter_sse_data
from v4agent.engine.types import RequestSettings

TARGET_OVERHEAD_MS = 2.0
TARGET_TOKENS_PER_S = 50_000
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi."}]
ANSWER = "Hello there, this is a short streamed answer of some forty tokens or so, " * 2


def _raw_call(conn: http.client.HTTPConnection, body: bytes) -> float:
    """One request on a kept-alive connection, reading the whole SSE body: the server's own time."""
    started = time.perf_counter()
    conn.request("POST", "/chat/completions", body, {"Content-Type": "application/json",
                                                     "Authorization": "Bearer sk-test"})
    conn.getresponse().read()
    return time.perf_counter() - started


_SERVER = """
import sys
from v4agent.testing import ScriptedReply, StandIn
with StandIn(handler=lambda body: ScriptedReply(content=sys.argv[1])) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def _server_process() -> Iterator[str]:
    """The stand-in in its own process, so that it does not share this process's GIL with the client."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, ANSWER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http://"):
            raise SystemExit("the stand-in process did not start")
        yield base_url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def bench_overhead(calls: int) -> tuple[float, float, float]:
    with _server_process() as base_url:
        engine = RemoteEngine(base_url, "sk-test", RequestSettings(model="deepseek-v4-flash", think="off"),
                              get_preset("deepseek"))
        body = json.dumps(engine.build_request(MESSAGES)).encode()
        url = urlparse(base_url)
        conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        for _ in range(10):  # warm up the tokenizer, caches and both connections
            engine.complete(MESSAGES)
            _raw_call(conn, body)
        client_times, raw_times = [], []
        for _ in range(calls):  # interleave so both see the same server state
            started = time.perf_counter()
            engine.complete(MESSAGES, on_delta=lambda d: None)
            client_times.append(time.perf_counter() - started)
            raw_times.append(_raw_call(conn, body))
        conn.close()
        engine.close()
    client_ms = statistics.median(client_times) * 1000
    raw_ms = statistics.median(raw_times) * 1000
    return client_ms, raw_ms, client_ms - raw_ms


def _synthetic_stream(tokens: int) -> list[str]:
    lines = []
    for i in range(tokens):
        kind = "reasoning_content" if i < tokens // 4 else "content"
        chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-v4-flash",
                 "choices": [{"index": 0, "delta": {kind: f" tok{i % 97}"}, "finish_reason": None}]}
        lines += ["data: " + json.dumps(chunk), ""]
    final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 10, "completion_tokens": tokens}}
    lines += ["data: " + json.dumps(final), "", "data: [DONE]", ""]
    return lines


def bench_parse(tokens: int) -> tuple[float, float]:
    """(tokens/s by wall clock, tokens/s by this process's CPU time); best of 3, deltas emitted."""
    lines = _synthetic_stream(tokens)
    best_wall = best_cpu = float("inf")
    for _ in range(3):
        assembler = StreamAssembler()
        started, cpu = time.perf_counter(), time.process_time()
        for payload in iter_sse_data(lines):
            assembler.feed_json(payload)
        reply = assembler.reply()
        best_wall = min(best_wall, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        assert reply.finish_reason == "stop"
    return tokens / best_wall, tokens / best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=200_000)
    args = parser.parse_args()
    client_ms, raw_ms, overhead = bench_overhead(args.calls)
    wall_rate, cpu_rate = bench_parse(args.tokens)
    print(f"{'figure':<44}{'measured':>14}{'target':>14}")
    print(f"{'streamed call via RemoteEngine (median)':<44}{client_ms:>11.2f} ms{'':>14}")
    print(f"{'same request, bare http.client (median)':<44}{raw_ms:>11.2f} ms{'':>14}")
    print(f"{'client overhead per streamed call':<44}{overhead:>11.2f} ms{'< ' + str(TARGET_OVERHEAD_MS) + ' ms':>14}")
    print(f"{'stream parse throughput (wall clock)':<44}{wall_rate:>10,.0f} t/s{'> 50,000 t/s':>14}")
    print(f"{'stream parse throughput (CPU time)':<44}{cpu_rate:>10,.0f} t/s{'> 50,000 t/s':>14}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (a busy machine inflates the wall-clock figures)")


if __name__ == "__main__":
    main()
