"""The composite action, the example workflow and the pull_request_target recipe of docs/review.md, checked offline.

Each file is validated against SchemaStore's schema for its kind (``github-action``, ``github-workflow``), as
``check-jsonschema`` vendors them (its ``--builtin-schema vendor.*``; a test dependency, so CI has it with no
network). What a schema cannot say is checked here: inputs reach scripts only through the environment, the
action installs v4agent from its own checkout, and the recipe never runs or checks out the pull request.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "v4agent-review.yml"


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("check-jsonschema is missing: tests/run.sh installs it with the test extra")
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    return found


def _validate(schema: str, *files: Path) -> None:
    done = subprocess.run([_check_jsonschema(), "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _recipe(tmp_path: Path) -> Path:
    readme = (ROOT / "docs" / "review.md").read_text(encoding="utf-8")  # moved from the README (issue 27)
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL) if "pull_request_target" in b]
    assert len(blocks) == 1
    path = tmp_path / "recipe.yml"
    path.write_text(blocks[0], encoding="utf-8")
    return path


def test_the_action_and_the_workflows_validate_against_schemastore(tmp_path: Path) -> None:
    _validate("vendor.github-actions", ACTION)
    _validate("vendor.github-workflows", WORKFLOW, _recipe(tmp_path))


def test_the_action_installs_itself_and_passes_inputs_through_the_environment() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    declared = set(action["inputs"])
    assert {"model", "fail-on", "request-changes-on", "sarif", "base-url", "deepseek-api-key"} <= declared
    text = ACTION.read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{\{\s*inputs\.([\w-]+)\s*}}", text)) <= declared
    steps = action["runs"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s]
    assert scripts
    for script in scripts:  # an expression pasted into a script is a script injection
        assert "${{" not in script
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert '"$ACTION_PATH"' in install["run"]
    assert "review --github" in scripts[-1]
    assert "pip install v4agent" not in text


def test_the_example_workflow_runs_the_action_with_the_permissions_it_needs() -> None:
    workflow = _load(WORKFLOW)
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write", "security-events": "write",
                                       "actions": "read"}
    steps = workflow["jobs"]["review"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    review = next(s for s in steps if s.get("uses") == "./")
    assert review["with"]["deepseek-api-key"] == "${{ secrets.DEEPSEEK_API_KEY }}"
    assert not [s for s in steps if "run" in s]
    assert "pip install" not in WORKFLOW.read_text(encoding="utf-8")


def test_the_pull_request_target_recipe_never_runs_or_checks_out_the_pull_request(tmp_path: Path) -> None:
    recipe = _load(_recipe(tmp_path))
    assert list(recipe["on"]) == ["pull_request_target"]
    assert recipe["permissions"] == {"contents": "read", "pull-requests": "write"}
    job = recipe["jobs"]["review"]
    assert "labels" in job["if"]  # a maintainer decides which stranger's change spends the key
    steps = job["steps"]
    assert not [s for s in steps if "run" in s]  # no step of its own runs anything
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert set(checkout.get("with", {})) == {"fetch-depth"}  # no ref, no repository: the base branch only
    assert [s["uses"].split("@")[0] for s in steps] == ["actions/checkout", "OWNER/v4agent"]
