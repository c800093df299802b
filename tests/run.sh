#!/usr/bin/env bash
# The whole test suite: installs the test dependencies into .venv, then ruff, mypy, the import contracts and pytest.
# README's second set-up command and .ci/run both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH"
# GitHub's OpenAPI description (github/rest-api-description, as npm's @octokit/openapi ships it), checked
# against its pinned integrity: fake GitHub checks every request and answer against it, offline.
OPENAPI_DIR="${V4AGENT_TEST_CACHE:-$HOME/.cache/v4agent-tests}/github-openapi/23.0.2"
OPENAPI_SHA512="sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
if [ ! -s "$OPENAPI_DIR/api.github.com.json" ]; then
  echo "== GitHub's OpenAPI description"
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent @octokit/openapi@23.0.2 >/dev/null) \
     && [ "$(.venv/bin/python -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tmp/octokit-openapi-23.0.2.tgz")" = "$OPENAPI_SHA512" ] \
     && tar -xzf "$tmp/octokit-openapi-23.0.2.tgz" -C "$tmp" package/generated/api.github.com.json; then
    mkdir -p "$OPENAPI_DIR" && mv "$tmp/package/generated/api.github.com.json" "$OPENAPI_DIR/"
  else
    echo "could not install @octokit/openapi 23.0.2: tests/review/test_fake_contract.py will fail under CI" >&2
  fi
  rm -rf "$tmp"
fi
echo "== ruff"
ruff check .
echo "== mypy"
mypy
echo "== import layers"
lint-imports --no-cache
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
