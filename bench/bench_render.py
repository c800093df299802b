"""Render benchmark: the client's V4 rendering (``agent/request/template.py``) of an agent session's requests.

A pack of about 960k tokens with the agent's tool schemas, then 30 turns of one tool call and its result each:
the cold render (the whole pack tokenized once) and the median render of a turn (only the new runs tokenized,
the rest from the memo). No target in the issue; printed so a change of the template shows its cost.

    python bench/bench_render.py
"""

from __future__ import annotations

import json
import statistics
import time

from v4agent.agent.request import template
from v4agent.tokens.tokenizer import get_tokenizer
from v4agent.tools.registry import tool_schemas


def main() -> None:
    """Print the cold render and the per-turn median."""
    tok = get_tokenizer("deepseek-v4")
    tools = tool_schemas()
    pack = "".join(f"def f{i}(x):\n    return x * {i} + {i * 7}  # line {i}\n" for i in range(40000))
    messages = [{"role": "system", "content": "SYSTEM"}, {"role": "user", "content": pack},
                {"role": "user", "content": "task"}]
    started = time.perf_counter()
    first = template.render_request(messages, tools, tok)
    cold = time.perf_counter() - started
    turns = []
    for i in range(30):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": "a.py"})}}
        messages = [*messages, {"role": "assistant", "content": f"step {i}", "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": f"c{i}", "content": "x = 1\n" * 50}]
        started = time.perf_counter()
        template.render_request(messages, tools, tok)
        turns.append(time.perf_counter() - started)
    print(f"prompt tokens {first.prompt_tokens:,}; cold render {cold * 1000:.0f} ms; "
          f"per turn median {statistics.median(turns) * 1000:.1f} ms (30 turns)")


if __name__ == "__main__":
    main()
