"""v4agent: a coding agent built around DeepSeek V4's 1M-token context window."""

__version__ = "0.1.0"
