"""One build's working state: worker pool, jobs sent ahead, counting, the per-file fact cache."""
