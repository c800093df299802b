"""The local engine: capacity planning, the vLLM command for a plan, launching and watching vLLM."""
