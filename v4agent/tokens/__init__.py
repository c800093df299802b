"""Token counting with the real tokenizers: DeepSeek V4's (fast exact counter) and tiktoken's, offline."""
