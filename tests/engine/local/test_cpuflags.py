"""vLLM's CPU backend keeps chunked prefill on where the CPU has AMX: both branches, whatever this host has."""

from __future__ import annotations

from pathlib import Path

from v4agent.engine.local.cpuflags import has_amx, host_has_amx
from v4agent.engine.local.kvpages import CPU_CHUNK_TOKENS, cpu_in_flight_tokens


def test_without_amx_one_batch_of_the_whole_length_is_in_flight() -> None:
    assert cpu_in_flight_tokens(4096, amx=False) == 4096
    assert cpu_in_flight_tokens(1024, amx=False) == CPU_CHUNK_TOKENS


def test_with_amx_chunked_prefill_keeps_the_default_batch() -> None:
    assert cpu_in_flight_tokens(4096, amx=True) == CPU_CHUNK_TOKENS
    assert cpu_in_flight_tokens(16384, amx=True) == CPU_CHUNK_TOKENS


def test_the_host_is_read_from_its_cpu_flags(tmp_path: Path) -> None:
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile amx_int8\n\n")
    plain = tmp_path / "plain"
    plain.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n\n")
    assert host_has_amx(amx)
    assert not host_has_amx(plain)
    assert not host_has_amx(tmp_path / "missing")
    assert not has_amx(["amx_tile"])  # tiles alone are not the bf16 path vLLM takes


def test_the_default_follows_this_host() -> None:
    expected = CPU_CHUNK_TOKENS if host_has_amx() else 4096
    assert cpu_in_flight_tokens(4096) == expected
