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
# GitHub's GraphQL schema (npm's @octokit/graphql-schema), pinned the same way: fake GitHub validates every
# GraphQL query against it, and tests/review/test_fake_graphql.py checks the fake's modelled part against it.
GQL_DIR="${V4AGENT_TEST_CACHE:-$HOME/.cache/v4agent-tests}/github-graphql-schema/15.26.1"
GQL_SHA512="sha512-RFDC2MpRBd4AxSRvUeBIVeBU7ojN/SxDfALUd7iVYOSeEK3gZaqR2MGOysj4Zh2xj2RY5fQAUT+Oqq7hWTraMA=="
if [ ! -s "$GQL_DIR/schema.graphql" ]; then
  echo "== GitHub's GraphQL schema"
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent @octokit/graphql-schema@15.26.1 >/dev/null) \
     && [ "$(.venv/bin/python -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tmp/octokit-graphql-schema-15.26.1.tgz")" = "$GQL_SHA512" ] \
     && tar -xzf "$tmp/octokit-graphql-schema-15.26.1.tgz" -C "$tmp" package/schema.graphql; then
    mkdir -p "$GQL_DIR" && mv "$tmp/package/schema.graphql" "$GQL_DIR/"
  else
    echo "could not install @octokit/graphql-schema 15.26.1: tests/review/test_fake_graphql.py will fail under CI" >&2
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
