"""Test support shipped with the package: the loopback DeepSeek stand-in (see ``standin``)."""

from v4agent.testing.standin import CallRecord, Fault, StandIn
from v4agent.testing.wire import BalanceInfo, ScriptedReply, ScriptedToolCall

__all__ = ["BalanceInfo", "CallRecord", "Fault", "ScriptedReply", "ScriptedToolCall", "StandIn"]
