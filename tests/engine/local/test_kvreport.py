"""What each vLLM release logs as DeepSeek V4's KV capacity (engine/local/kvreport.py), against figures vLLM computed.

The model is tests/engine/local/test_vllm_gpu.py's cut-down V4-Flash; the pool 67.69 GiB, as its H100 run logged. The 0.26.0
figures come from vLLM 0.26.0's own allocator (get_kv_cache_configs + get_max_concurrency_for_kv_cache_config run on
that model's layer specs, in-flight tokens = the length); 0.27.0 to 0.33.0 gave the 0.32 figures to the last digit.
"""

from __future__ import annotations

import pytest

from tests.engine.local.test_vllm_gpu import cut_down_v4_flash_config
from v4agent.engine.local.kvpages import PagedLayout, paged_layout
from v4agent.engine.local.kvreport import kv_capacity_note, reported_capacity
from v4agent.engine.local.modelspec import parse_config
from v4agent.engine.local.vllmlog import parse_vllm_version

POOL = round(67.69 * (1 << 30))

# vLLM 0.26.0 on an H100, tests/engine/local/test_vllm_gpu.py's run (vllm-50285.log), the lines the note reads.
H100_LOG = """\
(EngineCore pid=947) INFO 11-23 07:15:24 [core.py:116] Initializing a V1 LLM engine (v0.26.0) with config: \
model='/tmp/pytest-of-root/pytest-0/test_tiny_deepseek_v4_starts_o0/tiny-v4', speculative_config=None
(EngineCore pid=947) INFO 11-23 07:19:04 [gpu_worker.py:560] Available KV cache memory: 67.69 GiB
(EngineCore pid=947) INFO 11-23 07:19:04 [kv_cache_utils.py:2177] GPU KV cache size: 2,385,924 tokens
(EngineCore pid=947) INFO 11-23 07:19:04 [kv_cache_utils.py:2178] Maximum concurrency for 8,192 tokens per \
request: 291.25x
"""


def _layout() -> PagedLayout:
    return paged_layout(parse_config(cut_down_v4_flash_config(), name="cut-v4"), "fp8", 256)


@pytest.mark.parametrize(("length", "v026", "v027"), [
    (2048, 1160.6146926536733, 917.2156398104265),
    (8192, 291.24529721595184, 230.12187871581452),
    (65536, 36.443366914603146, 28.795194167534593),
])
def test_each_releases_logged_concurrency_is_reproduced(length: int, v026: float, v027: float) -> None:
    layout = _layout()
    assert reported_capacity(layout, POOL, length, length, (0, 26, 0)).sequences == v026
    for version in ((0, 27, 0), (0, 32, 0), (0, 33, 0), (1, 0)):
        assert reported_capacity(layout, POOL, length, length, version).sequences == v027
    assert layout.capacity(POOL, length, length).sequences == v027  # what the blocks really hold


def test_the_note_puts_vllms_figure_beside_the_plan_and_explains_0_26() -> None:
    note = kv_capacity_note(H100_LOG, _layout(), 16384)  # the plan's in-flight tokens (8192 per batch, async)
    assert note is not None
    assert note.startswith("vLLM's KV cache: 2,385,924 tokens (291.25 sequences of 8,192)")
    # 0.26's formula on the rounded pool: 43 tokens (a few bytes of pool) short of what the H100 logged.
    assert "the plan for its 67.69 GiB pool: 2,385,881 tokens" in note
    assert "vLLM 0.26.0 counts V4's concurrency" in note
    assert "its blocks hold 1,885,158 tokens" in note


def test_the_note_of_a_current_vllm_or_without_a_plan() -> None:
    current = H100_LOG.replace("(v0.26.0)", "(v0.32.0)").replace("2,385,924", "1,885,158").replace("291.25x", "230.12x")
    note = kv_capacity_note(current, _layout(), 8192)
    assert note is not None
    assert note.endswith("the plan for its 67.69 GiB pool: 1,885,158 tokens")
    cpu = ("INFO Initializing a V1 LLM engine (v0.32.0) with config: model='tiny'\n"
           "INFO [kv_cache_utils.py:2328] CPU KV cache size: 1,048,576 tokens, Maximum concurrency for 16,384 "
           "tokens per request: 64.00x\n")
    assert kv_capacity_note(cpu, None, 0) == "vLLM's KV cache: 1,048,576 tokens (64.00 sequences of 16,384)"
    assert kv_capacity_note(cpu, _layout(), 8192) == kv_capacity_note(cpu, None, 0)  # no pool line on CPU
    assert kv_capacity_note("INFO Starting vLLM server\n", _layout(), 8192) is None


def test_the_vllm_release_is_read_from_the_engine_core_line() -> None:
    assert parse_vllm_version(H100_LOG) == (0, 26, 0)
    assert parse_vllm_version("Initializing a V1 LLM engine (v0.32.0rc1.dev5+g1234) with config") == (0, 32, 0)
    assert parse_vllm_version("Initializing a V1 LLM engine (v1.2) with config") == (1, 2, 0)
    assert parse_vllm_version("INFO Starting vLLM server\n") is None
