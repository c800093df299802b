"""The agent's tools (installed as ``v4agent.tools``)."""
