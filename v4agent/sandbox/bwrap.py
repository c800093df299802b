"""The bubblewrap command line for one command: a pure function of the policy, the mount plan and the command.

Every option used is from bwrap(1) (bubblewrap 0.8, https://github.com/containers/bubblewrap/blob/main/bwrap.xml);
each is cited where it is added. Mount options apply in order, so parents come before their children and the
hidden paths come last, over whatever bound them before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from v4agent.sandbox.mounts import MountPlan
from v4agent.sandbox.policy import SandboxPolicy

__all__ = ["SANDBOX_TMP", "bwrap_argv", "isolation_flags", "limited"]

SANDBOX_TMP = Path("/tmp")  # where the command's private temporary directory appears inside

# Tried in order by ``detect``: the first that runs ``true`` is the one used.
#  --unshare-user: even when v4agent runs as root, the command holds no capability of the host's (and with
#    --cap-drop ALL none of its namespace's), so it cannot unmount what hides the credential stores.
#  --disable-userns (bwrap 0.8+): "Prevent the process in the sandbox from creating further user namespaces".
ISOLATION_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("--unshare-user", "--disable-userns", "--cap-drop", "ALL"),
    ("--unshare-user", "--cap-drop", "ALL"),
)


def isolation_flags(network: bool) -> list[str]:
    """Namespaces and session: the part of the command line every sandboxed command shares."""
    flags = [
        # "--unshare-all: Unshare all possible namespaces. Currently equivalent with: --unshare-user-try
        # --unshare-ipc --unshare-pid --unshare-net --unshare-uts --unshare-cgroup-try". The PID namespace
        # (--unshare-pid) is what ends a `setsid` daemon: when its init exits, the kernel kills the rest.
        "--unshare-all",
        # "--die-with-parent: Ensures child process (COMMAND) dies when bwrap's parent dies": v4agent killed,
        # or the command's process group killed at its timeout, takes the whole sandbox with it.
        "--die-with-parent",
        # "--new-session: Create a new terminal session for the sandbox (calls setsid()). This disconnects the
        # sandbox from the controlling terminal which means the sandbox can't for instance inject input into
        # the terminal" (the TIOCSTI ioctl).
        "--new-session",
    ]
    if network:
        flags.append("--share-net")  # "--share-net: Retain the network namespace (can only combine with --unshare-all)"
    return flags


def limited(command: str | Sequence[str], memory_bytes: int, file_bytes: int) -> list[str]:
    """``command`` run by bash after it sets hard and soft limits that no process of the command can raise.

    bash(1), ulimit: -v is the address space (RLIMIT_AS) and -f the file size (RLIMIT_FSIZE), both in
    1024-byte units; -S -H set the soft and the hard limit, and a process cannot raise a hard limit again
    (setrlimit(2): that takes CAP_SYS_RESOURCE, which the sandbox drops). A shell string is handed, untouched,
    to a bash exec'd after the limits, so what runs is exactly the string the user approved (its
    ``$BASH_EXECUTION_STRING``, its line numbers); an argv is exec'd the same way.
    """
    ulimit = f"ulimit -S -H -v {memory_bytes // 1024} -f {file_bytes // 1024} || exit 125"
    if isinstance(command, str):
        return ["/bin/bash", "-c", f'{ulimit}; exec /bin/bash -c "$1"', "v4agent-sandbox", command]
    return ["/bin/bash", "-c", f'{ulimit}; exec "$@"', "v4agent-sandbox", *command]


def _filesystem(plan: MountPlan, tmpdir: str) -> list[str]:
    # "--ro-bind SRC DEST: Bind mount the host path SRC readonly on DEST": the whole machine, read-only.
    args = ["--ro-bind", "/", "/"]
    # "--dev DEST: Mount new dev on DEST" (null, zero, random, tty, shm...: no host device);
    # "--proc DEST: Mount new procfs on DEST": only this PID namespace's processes, no /proc/$PPID/environ.
    args += ["--dev", "/dev", "--proc", "/proc"]
    for path in plan.scratch:
        if path == SANDBOX_TMP:
            args += ["--bind", tmpdir, str(path)]  # "--bind SRC DEST: Bind mount the host path SRC on DEST"
        else:
            args += ["--tmpfs", str(path)]  # "--tmpfs DEST: Mount new tmpfs on DEST"
    if SANDBOX_TMP not in plan.scratch:
        args += ["--bind", tmpdir, tmpdir]
    for path in plan.readable:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(plan.root), str(plan.root)]
    for path in plan.read_only_in_root:
        args += ["--ro-bind", str(path), str(path)]
    for path in plan.hidden_dirs:
        # "--remount-ro DEST: Remount the path DEST as readonly": the empty tmpfs takes no writes either.
        args += ["--tmpfs", str(path), "--remount-ro", str(path)]
    for path in plan.hidden_files:
        args += ["--ro-bind", "/dev/null", str(path)]
    return args


def bwrap_argv(policy: SandboxPolicy, plan: MountPlan, command: str | Sequence[str], *, bwrap: str,
               variant: Sequence[str], tmpdir: str, cwd: Path | None = None, info_fd: int | None = None) -> list[str]:
    """``bwrap OPTIONS -- bash LIMITS; COMMAND``: ``command`` (a bash string or an argv) confined as ``policy`` says.

    ``variant`` is the isolation that ``detect`` found working here; ``tmpdir`` the host directory that is the
    command's TMPDIR; ``info_fd`` where bwrap tells the sandbox init's PID.

    The environment is not on this line: bwrap is started with exactly the command's environment and passes
    it on. ``--clearenv``/``--setenv VAR VALUE`` would put the values in bwrap's argv, which any user of the
    machine can read in /proc/PID/cmdline (proc(5)); and bwrap's own environment is what the sandbox init
    (PID 1, whose /proc/1/environ the command can read) holds, so it must hold nothing more anyway.
    """
    args = [bwrap, *isolation_flags(policy.network), *variant, *_filesystem(plan, tmpdir)]
    if info_fd is not None:
        # "--info-fd FD: Write information in JSON format about the sandbox to FD" ({"child-pid": N}).
        args += ["--info-fd", str(info_fd)]
    args += ["--chdir", str(cwd or plan.root)]  # "--chdir DIR: Change directory to DIR"
    return [*args, "--", *limited(command, policy.memory_bytes, policy.file_bytes)]
