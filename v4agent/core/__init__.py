"""Infrastructure every stage stands on: configuration, state directory, durable writes, processes, git, errors."""
