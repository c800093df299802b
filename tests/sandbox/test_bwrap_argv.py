"""The bubblewrap command line is a pure function of the policy and the mount plan."""

from __future__ import annotations

from pathlib import Path

from v4agent.sandbox.bwrap import bwrap_argv, limited
from v4agent.sandbox.mounts import MountPlan
from v4agent.sandbox.policy import SandboxPolicy

ROOT = Path("/work/repo")
PLAN = MountPlan(
    root=ROOT, scratch=(Path("/tmp"), Path("/run")), readable=(Path("/tmp/venv"),),
    read_only_in_root=(ROOT / ".git", ROOT / ".v4agent"), hidden_dirs=(Path("/home/u/.ssh"),),
    hidden_files=(Path("/home/u/.netrc"),),
)
VARIANT = ("--unshare-user", "--disable-userns", "--cap-drop", "ALL")


def _argv(**changes: object) -> list[str]:
    policy = SandboxPolicy(root=ROOT, home=Path("/home/u"), memory_bytes=1 << 30, file_bytes=1 << 20,
                           **changes)  # type: ignore[arg-type]
    return bwrap_argv(policy, PLAN, "make test", bwrap="/usr/bin/bwrap", variant=VARIANT,
                      tmpdir="/tmp/v4agent-cmd-x", info_fd=7)


def _pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_isolation_flags_and_no_network_by_default() -> None:
    argv = _argv()
    assert argv[0] == "/usr/bin/bwrap"
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", *VARIANT):
        assert flag in argv
    assert "--share-net" not in argv
    assert "--share-net" in _argv(network=True)
    assert _pairs(argv, "--info-fd") == ["7"]
    assert _pairs(argv, "--chdir") == [str(ROOT)]


def test_mounts_come_in_order_and_hidden_paths_last() -> None:
    argv = _argv()
    options = argv[: argv.index("--")]
    assert options[options.index("--ro-bind") + 1: options.index("--ro-bind") + 3] == ["/", "/"]
    assert options[options.index("--dev"): options.index("--dev") + 2] == ["--dev", "/dev"]
    assert _pairs(options, "--proc") == ["/proc"]
    assert options[options.index("--bind"): options.index("--bind") + 3] == ["--bind", "/tmp/v4agent-cmd-x", "/tmp"]
    assert "/run" in _pairs(options, "--tmpfs")
    root_bind = options.index(str(ROOT))
    assert options[root_bind - 1] == "--bind"
    assert options.index("/tmp/venv") < root_bind  # readable first: the repository may lie inside it
    git = options.index(str(ROOT / ".git"))
    assert options[git - 1] == "--ro-bind"
    assert git > root_bind  # .git/ read-only over the writable repository
    ssh = options.index("/home/u/.ssh")
    assert options[ssh - 1] == "--tmpfs"
    assert _pairs(options, "--remount-ro") == ["/home/u/.ssh"]
    assert options[options.index("/home/u/.netrc") - 2:][:2] == ["--ro-bind", "/dev/null"]
    assert ssh > git


def test_no_value_on_the_command_line_and_the_command_runs_under_limits() -> None:
    argv = _argv()
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    assert "--setenv" not in options  # the environment is bwrap's own, never in the world-readable argv
    assert command == limited("make test", 1 << 30, 1 << 20)
    assert command[:2] == ["/bin/bash", "-c"]
    assert command[2] == f'ulimit -S -H -v {(1 << 30) // 1024} -f {(1 << 20) // 1024} || exit 125; exec /bin/bash -c "$1"'
    assert command[3:] == ["v4agent-sandbox", "make test"]  # the approved string, untouched
    argv = limited(["pytest", "-q"], 1 << 30, 1 << 20)
    assert argv[2].endswith('; exec "$@"')
    assert argv[3:] == ["v4agent-sandbox", "pytest", "-q"]


def test_tmp_outside_scratch_is_bound_at_its_own_path() -> None:
    plan = MountPlan(ROOT, (), (), (), (), ())
    policy = SandboxPolicy(root=ROOT, home=Path("/home/u"))
    argv = bwrap_argv(policy, plan, ["true"], bwrap="bwrap", variant=(), tmpdir="/scratch/t")
    assert argv[argv.index("/scratch/t") - 1:][:3] == ["--bind", "/scratch/t", "/scratch/t"]
    assert "--info-fd" not in argv
