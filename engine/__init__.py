"""Model backends (installed as ``v4agent.engine``): remote client, local vLLM launcher, capacity planner."""
