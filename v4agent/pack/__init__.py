"""The packer: one cache-friendly, token-exact text of a whole repository (issue 4)."""
