"""An OS sandbox for every command v4agent runs: the policy, bubblewrap's command line, detection, launching.

Imports only ``v4agent.core``. The tools (``shell``, ``run_tests``) and the front ends' test runs start their
commands through ``launch``; ``containment`` says whether that confines them on this machine.
"""

from v4agent.sandbox.detect import Detection, detect
from v4agent.sandbox.launcher import Launch, containment, is_contained, launch, sandbox_label
from v4agent.sandbox.policy import SandboxPolicy, make_policy

__all__ = [
    "Detection", "Launch", "SandboxPolicy", "containment", "detect", "is_contained", "launch", "make_policy",
    "sandbox_label",
]
