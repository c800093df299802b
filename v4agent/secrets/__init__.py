"""Secrets kept out of every prompt: the scanner, in-place redaction, and redaction of tool results."""
