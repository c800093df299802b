"""Extensions a user brings from other agents: MCP servers, hooks (and instruction files, custom commands)."""
