"""Test support shipped with the package: the loopback DeepSeek stand-in (see ``standin``)."""

from v4agent.testing.standin import CallRecord, Fault, StandIn
from v4agent.testing.wire import ScriptedReply, ScriptedToolCall

__all__ = ["CallRecord", "Fault", "ScriptedReply", "ScriptedToolCall", "StandIn"]
