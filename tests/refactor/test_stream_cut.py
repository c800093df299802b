"""A stream cut after part of the reply was shown: the real CLI retries it, and the ledger holds both calls.

The stand-in closes the socket after a few chunks of the first turn's reply (no ``[DONE]``). The run must ask
again, carry on with the complete reply, show that the cut part was superseded, and put the cut attempt in the
ledger as an estimate (flagged; ``v4agent cost`` says so), beside the completed call.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import make_git_repo, run_cli
from v4agent.accounting.ledger import Ledger
from v4agent.agent.sessions.store import list_sessions
from v4agent.testing.standin import Fault, ScriptedReply, ScriptedToolCall, StandIn

CONTENT = "hello from the second attempt\n"
PREAMBLE = "I will now create the greeting file, as the task asks. " * 4


def _script(body: dict[str, object]) -> ScriptedReply:
    """The reply is decided by the conversation (as a model's is), so the retried request gets the same one."""
    messages = body["messages"]
    assert isinstance(messages, list)
    if any(m["role"] == "assistant" for m in messages):
        return ScriptedReply(tool_calls=[ScriptedToolCall("finish", json.dumps({"summary": "wrote hello.txt"}))])
    write = ScriptedToolCall("write_file", json.dumps({"path": "hello.txt", "content": CONTENT}))
    return ScriptedReply(content=PREAMBLE, tool_calls=[write])


def test_a_cut_stream_is_retried_and_both_calls_are_in_the_ledger(tmp_path: Path) -> None:
    root = make_git_repo(tmp_path / "repo", {"README.md": "demo\n"})
    with StandIn(handler=_script, chunk_chars=4) as server:
        server.faults.append(Fault("cut_stream", after=6))  # the first turn call: a few chunks of its text, then cut
        done = run_cli("refactor", str(root), "create hello.txt", "--base-url", server.base_url, "--yes",
                       "--prime", "never", "--json", env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"},
                       timeout=300)
        served = len(server.calls)
    assert done.returncode == 0, done.stderr[-3000:]
    assert served == 3  # the cut attempt, its retry, the finish turn
    report = json.loads(done.stdout)
    assert report["status"] == "finished"
    assert (root / "hello.txt").read_text() == CONTENT  # the tool call came whole from the retried reply
    assert "stream was cut" in done.stderr
    assert "superseded" in done.stderr

    session = list_sessions(root)[-1]
    turn_one = [c for c in session.calls if c.turn == 1]
    assert [c.finish_reason for c in turn_one] == ["cut", "tool_calls"]
    cut, whole = turn_one
    assert not cut.usage_known
    assert whole.usage_known
    assert 0 < cut.output_tokens < whole.output_tokens  # what arrived, counted: part of the reply
    assert cut.prompt_tokens > 0

    assert session.turns == 2  # the cut attempt is a call, not a turn
    ledger = [r for r in Ledger(root).read() if r.session_id == session.session_id]
    assert len(ledger) == len(session.calls) == 3
    estimated = [r for r in ledger if r.estimated]
    assert len(estimated) == 1
    assert (estimated[0].turn, estimated[0].output_tokens) == (1, cut.output_tokens)
    assert estimated[0].total_usd > 0

    shown = run_cli("cost", str(root), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["total"]["estimated_calls"] == 1
    table = run_cli("cost", str(root))
    assert "1 call(s) are estimates" in table.stderr


def test_stream_json_says_the_cut_text_is_superseded(tmp_path: Path) -> None:
    jsonschema = __import__("pytest").importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "stream-json.schema.json").read_text())
    root = make_git_repo(tmp_path / "repo", {"README.md": "demo\n"})
    with StandIn(handler=_script, chunk_chars=4) as server:
        server.faults.append(Fault("cut_stream", after=6))
        done = run_cli("refactor", str(root), "create hello.txt", "--base-url", server.base_url, "--yes",
                       "--prime", "never", "--format", "stream-json",
                       env={"DEEPSEEK_API_KEY": "sk-test", "V4AGENT_THINK": "off"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    for line in lines:
        jsonschema.validate(line, schema)
    kinds = [line["type"] for line in lines]
    restart = kinds.index("stream_restart")
    assert "text" in kinds[:restart]  # part of the reply had reached the reader before the cut
    event = lines[restart]
    assert event["estimated"] is True
    assert event["shown_chars"] > 0
    assert event["cost_usd"] > 0
    assert kinds[-1] == "end"
