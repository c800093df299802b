"""Run inside vLLM's own venv: parse each `vllm serve` argv (one JSON list per stdin line) with vLLM's serve
parser and build its EngineArgs (whose field validation runs), printing one JSON verdict per line.

Used by test_vllm_args.py; it imports nothing from v4agent (that venv has only vLLM)."""

import contextlib
import io
import json
import sys

from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.cli.serve import ServeSubcommand
from vllm.utils.argparse_utils import FlexibleArgumentParser


def _parser() -> FlexibleArgumentParser:
    root = FlexibleArgumentParser(prog="vllm")
    subparsers = root.add_subparsers(dest="subparser")
    ServeSubcommand().subparser_init(subparsers)
    return root


def check(argv: list[str]) -> dict:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = _parser().parse_args(argv)
        if getattr(args, "model_tag", None):  # what `vllm serve MODEL` does with its positional argument
            args.model = args.model_tag
        engine = AsyncEngineArgs.from_cli_args(args)
    except SystemExit as exc:
        return {"ok": False, "error": err.getvalue().strip()[-600:] or f"exit {exc.code}"}
    except Exception as exc:  # the verdict carries vLLM's own message
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:600]}
    return {"ok": True, "model": engine.model, "kv_cache_dtype": str(engine.kv_cache_dtype),
            "block_size": engine.block_size, "tensor_parallel_size": engine.tensor_parallel_size,
            "data_parallel_size": engine.data_parallel_size,
            "indexer_kv_dtype": str(getattr(engine.attention_config, "indexer_kv_dtype", None)
                                    if not isinstance(engine.attention_config, dict)
                                    else engine.attention_config.get("indexer_kv_dtype")),
            "speculative": engine.speculative_config}


for line in sys.stdin:
    if line.strip():
        print(json.dumps(check(json.loads(line)), default=str), flush=True)
