"""Exit statuses of the CLI. Documented in the README; scripts and CI rely on them."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # finished (for refactor: finished with tests passing)
    FAILED = 1  # the task or command failed
    USAGE = 2  # bad arguments, bad configuration, bad input path
    TESTS_FAILING = 3  # finished, but the project's tests fail
    LIMIT_REACHED = 4  # --max-cost or --max-turns stopped the run
    INTERRUPTED = 5  # Ctrl-C; the session is saved and resumable
    ENGINE_UNREACHABLE = 6  # no API key, engine down, or auth refused; offline work was still done
    REVIEW_FINDINGS = 7  # review found issues at or above --fail-on
