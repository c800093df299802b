"""Which files the pack is made of: discovery, classification by name and bytes, per-file analysis."""
