"""The request an agent call sends: its layout, its V4 chat-template tokens, cache units and diagnostics."""
