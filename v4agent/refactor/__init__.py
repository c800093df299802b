"""`v4agent refactor`: the main job, a task carried out on a packed repository, with live progress."""
