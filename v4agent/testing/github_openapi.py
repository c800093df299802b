"""GitHub's official OpenAPI description, when installed: fake GitHub's requests and answers checked against it.

The description is github/rest-api-description's, as the npm package ``@octokit/openapi`` ships it
(``generated/api.github.com.json``, OpenAPI 3.0.3); ``tests/run.sh`` puts it in the test cache, so the
tests read it offline. Its schemas are OpenAPI 3.0's dialect of JSON Schema draft 4, whose one addition that
matters here, ``nullable: true``, is turned into draft 4 (the type, or ``null``) as each schema is first used.

A request whose body the description's schema rejects is answered 422 "Invalid request", as GitHub does; an
answer of the fake's that its schema rejects, or a success status the operation does not list, is a fault of
the fake and is recorded as a contract violation. A 4xx status an operation does not list is no fault (GitHub
answers 401, 403, 404 or 429 anywhere; the description lists them for some operations only).
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

DESCRIPTION_ENV = "V4AGENT_GITHUB_OPENAPI"
PACKAGE = "@octokit/openapi"
PACKAGE_VERSION = "23.0.2"
_SCHEMA_URN = "urn:github-openapi:schemas:"


# Read when this module is first imported: the tests' fixtures later point HOME at a scratch directory and
# drop the V4AGENT_ variables, and the description stays where tests/run.sh put it.
_NAMED_AT_IMPORT = os.environ.get(DESCRIPTION_ENV, "")
_CACHE_AT_IMPORT = Path(os.environ.get("V4AGENT_TEST_CACHE") or Path.home() / ".cache" / "v4agent-tests")


def description_path() -> Path | None:
    """Where the description is: ``$V4AGENT_GITHUB_OPENAPI``, else the test cache tests/run.sh fills."""
    named = os.environ.get(DESCRIPTION_ENV) or _NAMED_AT_IMPORT
    if named:
        return Path(named) if Path(named).is_file() else None
    found = _CACHE_AT_IMPORT / "github-openapi" / PACKAGE_VERSION / "api.github.com.json"
    return found if found.is_file() else None


def _draft4(node: Any) -> Any:
    """An OpenAPI 3.0 schema as draft 4: ``nullable`` spelled out, internal ``$ref``s made registry URNs."""
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _draft4(value) for key, value in node.items() if not (key == "nullable" and value is True)}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        out["$ref"] = _SCHEMA_URN + ref.rsplit("/", 1)[1]
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if isinstance(out.get("enum"), list):
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    """The description's operations, with their request and answer schemas as draft 4 validators."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc
        schemas: dict[str, Any] = doc["components"]["schemas"]

        def retrieve(uri: str) -> Resource[Any]:
            name = uri.removeprefix(_SCHEMA_URN)
            if name not in schemas:
                raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs fields the stubs miss
            return DRAFT4.create_resource(_draft4(schemas[name]))

        self._registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
        # Literal segments before parameters, so /pulls/comments/{id} wins over /pulls/{pull_number}.
        templates = sorted(doc["paths"], key=lambda t: (t.count("{"), -len(t)))
        self._paths = [(re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"), t)
                       for t in templates]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """(template, operation object) for a concrete request path, or None when the description has none."""
        for pattern, template in self._paths:
            if pattern.match(path):
                op = self._doc["paths"][template].get(method.lower())
                return (template, op) if isinstance(op, dict) else None
        return None

    def _problems(self, schema: Any, instance: Any, where: str) -> list[str]:
        validator = jsonschema.Draft4Validator(_draft4(schema), registry=self._registry)
        return [f"{where}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in validator.iter_errors(instance)][:5]

    def request_problems(self, method: str, path: str, body: Any) -> list[str]:
        """What the description's schema finds wrong with a request body (empty when it is valid)."""
        found = self.operation(method, path)
        schema = ((found or ("", {}))[1].get("requestBody") or {}).get("content", {}).get("application/json", {})
        if "schema" not in schema or body is None:
            return []
        return self._problems(schema["schema"], body, f"{method} {path} request")

    def response_problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """What is wrong with an answer the fake gave: an unlisted success status, or a body its schema rejects."""
        found = self.operation(method, path)
        if found is None:  # GitHub answers 404 for an operation it does not have
            return [] if status == 404 else [f"{method} {path} answered {status}: no such operation in GitHub's "
                                             "description"]
        template, op = found
        answer = op.get("responses", {}).get(str(status))
        if answer is None:
            if 400 <= status < 500:  # GitHub answers these anywhere: a description lists only some
                return []
            return [f"{method} {template} answered {status}, which the description does not list "
                    f"({', '.join(op.get('responses', {}))})"]
        ref = answer.get("$ref")
        if isinstance(ref, str):
            answer = self._doc["components"]["responses"][ref.rsplit("/", 1)[1]]
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None or isinstance(body, str):  # no body to check, or a media type that is not JSON
            return []
        return self._problems(schema, body, f"{method} {template} {status}")


@lru_cache(maxsize=2)
def load_contract(path: Path) -> Contract:
    """The description at ``path``, parsed once per process (it is 13 MB)."""
    return Contract(json.loads(path.read_text(encoding="utf-8")))


def contract() -> Contract | None:
    """The installed description's Contract, or None when it is not installed."""
    found = description_path()
    return None if found is None else load_contract(found)
