"""`v4agent engine plan` and `engine serve`: sizing DeepSeek V4 for some GPUs, then starting vLLM."""
