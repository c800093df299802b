"""Best-of-N attempts: one primed pack, N agent sessions in their own git worktrees, one diff chosen and applied."""
