"""Extensions a user's setup brings: instruction files, custom commands, plan mode (MCP and hooks beside them).

A layer between the agent and the tools: it reads the user's and the repository's files (the repository's
only as trust allows) and hands the front ends records; it never calls the model itself.
"""

from __future__ import annotations

from pathlib import Path

from v4agent.core.trust import trust_status

__all__ = ["repository_trusted"]


def repository_trusted(root: Path) -> bool:
    """Whether the user trusts ``root``'s own files as they are now (``v4agent trust``, or yes at the prompt)."""
    return trust_status(root) == "trusted"
