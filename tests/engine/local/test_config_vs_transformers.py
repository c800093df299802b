"""The planner's config reader against transformers' own DeepseekV4Config, for every shipped checkpoint.

The planner reads ``config.json`` itself (engine/local/modelspec.py) rather than through ``AutoConfig``: the
base install has no transformers, and transformers turns ``compress_ratios`` into ``layer_types`` cut to
``num_hidden_layers``, which drops the trailing MTP / DSpark blocks the weight and draft-KV figures need.
This test keeps the two readings in step where they overlap, with the transformers vLLM's CPU build ships.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.engine.local.test_vllm_cpu import vllm_python  # noqa: F401 - the session fixture (installs the venv)
from v4agent.engine.local.modelspec import builtin_config_path, load_model_spec

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(600)]

_READ = """
import json, sys
from transformers import AutoConfig
c = AutoConfig.from_pretrained(sys.argv[1])
print("CONFIG " + json.dumps({"model_type": c.model_type, "layers": c.num_hidden_layers,
      "heads": c.num_attention_heads, "head_dim": c.head_dim, "index_head_dim": c.index_head_dim,
      "index_n_heads": c.index_n_heads, "index_topk": c.index_topk, "window": c.sliding_window,
      "o_groups": c.o_groups, "experts": c.n_routed_experts, "layer_types": list(c.layer_types)}))
"""
# transformers' names for the V4 layer kinds (its DeepseekV4Config.layer_types).
_RATIO_OF = {"sliding_attention": 0, "compressed_sparse_attention": 4, "heavily_compressed_attention": 128}
V4_CHECKPOINTS = ("deepseek-v4-flash", "deepseek-v4-flash-0731", "deepseek-v4-pro")


@pytest.mark.parametrize("name", V4_CHECKPOINTS)
def test_planner_reads_each_v4_config_as_transformers_does(vllm_python: str, tmp_path: Path,  # noqa: F811
                                                           name: str) -> None:
    source = builtin_config_path(name)
    model_dir = tmp_path / name
    model_dir.mkdir()
    (model_dir / "config.json").write_bytes(source.read_bytes())
    script = tmp_path / "read.py"
    script.write_text(_READ)
    done = subprocess.run([vllm_python, str(script), str(model_dir)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = next((x for x in done.stdout.splitlines() if x.startswith("CONFIG ")), None)
    assert line is not None, done.stderr[-3000:]
    theirs = json.loads(line[len("CONFIG "):])
    ours = load_model_spec(str(model_dir))
    assert theirs["model_type"] == ours.model_type
    assert (theirs["layers"], theirs["heads"], theirs["head_dim"]) == (ours.num_layers, ours.num_attention_heads,
                                                                       ours.head_dim)
    assert (theirs["index_head_dim"], theirs["index_n_heads"], theirs["index_topk"]) == (
        ours.index_head_dim, ours.index_n_heads, ours.index_topk)
    assert (theirs["window"], theirs["o_groups"], theirs["experts"]) == (ours.sliding_window, ours.o_groups,
                                                                         ours.n_routed_experts)
    assert [_RATIO_OF[t] for t in theirs["layer_types"]] == list(ours.compress_ratios)
    # What transformers drops and the planner keeps: the blocks after the main layers.
    raw = json.loads(source.read_text())
    assert len(ours.compress_ratios) + len(ours.mtp_ratios) == len(raw["compress_ratios"])
