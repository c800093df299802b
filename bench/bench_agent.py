"""Benchmark: the agent loop's own work per model call on a whole-window pack (Django 5.2 at the 1M budget).

    python bench/bench_agent.py [--corpus DIR] [--turns N]

Before every call the loop renders the request into V4 tokens (the cache tracker's expected hit, the budget
check) and after it records what the provider stored; with a 917K-token pack in front of every request, that
work is paid on every turn, on top of the provider's latency. This runs the loop's own tracker over a scripted
conversation (each turn: an assistant tool call, a file read as its result) without any server, and prints the
first call (the pack tokenized once), the later calls, and the peak RSS, beside the anchor: one ``tokenizers``
encode of the same first request, what the tracker did before it took ids from the fast counter's pieces.
The anchor runs in its own process so its memory is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pack import prepare_corpus  # the Django repository, prepared once and cached

_ANCHOR = """
import json, resource, sys, time
from tokenizers import Tokenizer
from v4agent.tokens.tokenizer import deepseek_v4_tokenizer_path
text = open(sys.argv[1], encoding="utf-8").read()
tok = Tokenizer.from_file(deepseek_v4_tokenizer_path())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
n = len(tok.encode(text, add_special_tokens=False).ids)
print(json.dumps({"s": time.perf_counter() - start, "tokens": n,
                  "rss_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scripted_turns(conversation: Any, tracker: Any, tools: Any, read: str,
                   turns: int) -> tuple[list[float], int, list[int]]:
    """The loop's own work per call over ``turns`` scripted calls (each reads ``read`` with a tool): the time of
    each call's render + expected hit + record, the last request's tokens, and the first request's ids."""
    from v4agent.agent.request.layout import tool_message

    first_ids: list[int] = []
    timings: list[float] = []
    tokens = 0
    for turn in range(1, turns + 1):
        messages = conversation.messages
        start = time.perf_counter()
        rendered = tracker.render(messages, tools)
        tracker.expected(rendered)
        call_id = f"call_{turn}"
        reply = {"role": "assistant", "content": "", "reasoning_content": "Read the next part.",
                 "tool_calls": [{"id": call_id, "type": "function",
                                 "function": {"name": "read_file", "arguments": json.dumps({"path": "x.py"})}}]}
        tracker.record(rendered, messages, reply, billed_hit=None, billed_prompt=None)
        timings.append(time.perf_counter() - start)
        tokens = len(rendered.tokens)
        first_ids = first_ids or list(rendered.tokens)
        conversation.append(reply)
        conversation.append(tool_message(call_id, f"turn {turn}\n{read}"))
    return timings, tokens, first_ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, help="a Django 5.2 git repository (default: prepared and cached)")
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()

    from v4agent.agent.request.cachediag import CacheTracker
    from v4agent.agent.request.layout import Conversation
    from v4agent.core.config import load_config
    from v4agent.pack import Snapshot
    from v4agent.pack.fromconfig import pack_options_from_config
    from v4agent.prompts import load_prompt
    from v4agent.tokens.tokenizer import get_tokenizer
    from v4agent.tools.registry import tool_schemas

    corpus = args.corpus or prepare_corpus()
    options = pack_options_from_config(load_config(corpus), model="deepseek-v4-flash")  # the CLI's default budget
    snapshot = Snapshot.build(corpus, options, track_changes=False)
    tools = tool_schemas()
    conversation = Conversation.start(load_prompt("system.md"), str(snapshot.text), "Tidy django/utils/text.py")
    tokenizer = get_tokenizer("deepseek-v4")
    tracker = CacheTracker(tokenizer)
    rss_before = _rss_mib()
    read = (corpus / "django" / "utils" / "text.py").read_text(encoding="utf-8")[:20_000]

    timings, tokens, first_ids = scripted_turns(conversation, tracker, tools, read, args.turns)
    peak = _rss_mib()

    # The anchor encodes the first request's exact text (its ids decoded back: byte-level BPE round-trips).
    from tokenizers import Tokenizer

    from v4agent.tokens.tokenizer import deepseek_v4_tokenizer_path

    text = Tokenizer.from_file(deepseek_v4_tokenizer_path()).decode(first_ids, skip_special_tokens=False)
    anchor_file = Path(tempfile.mkdtemp()) / "request.txt"
    anchor_file.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _ANCHOR, str(anchor_file)], capture_output=True, text=True,
                          check=True)
    anchor = json.loads(done.stdout)
    shutil.rmtree(anchor_file.parent)

    later = timings[1:] or [0.0]
    print(f"Django 5.2 at the default budget: pack {snapshot.token_count:,} tokens; request grows to {tokens:,} "
          f"tokens over {args.turns} calls")
    print(f"{'':44}{'v4agent':>12}{'anchor':>12}")
    print(f"{'first call: render + expected + record':44}{timings[0]:>11.2f}s"
          f"{anchor['s']:>11.2f}s  (anchor: one tokenizers encode, {anchor['tokens']:,} tokens)")
    print(f"{'later calls, mean':44}{sum(later) / len(later) * 1000:>10.0f}ms")
    print(f"{'memory added by the loop (peak RSS)':44}{peak - rss_before:>9.0f}MiB"
          f"{anchor['rss_mib']:>9.0f}MiB  (anchor: the encode alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
