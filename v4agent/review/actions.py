"""The pull request a GitHub Actions run is about, read from the runner's environment.

Actions sets ``GITHUB_EVENT_PATH`` (the webhook payload as JSON), ``GITHUB_REPOSITORY`` (``owner/name``) and
``GITHUB_API_URL``; the workflow passes ``GITHUB_TOKEN``. The token is returned to the caller and nothing else:
it is never part of a message. ``V4AGENT_REVIEW_BOT_LOGIN`` names the account the token posts as, for a token
whose identity GitHub will not say (a custom app's installation token; see ``identity.py``).

The runner has checked out the pull request's tree, so the repository's config is not trusted in CI: its
``.v4agent.toml`` is never applied beyond the harmless keys (model, think, pack shaping), whatever the trust
store says. The engine, base URL, key variable and prices come from the workflow's flags, its environment and
the user config only, so a pull request cannot send ``GITHUB_TOKEN`` or ``DEEPSEEK_API_KEY`` elsewhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v4agent.core.errors import ExitCode, V4AgentError
from v4agent.review.github import DEFAULT_API_URL, PullRef
from v4agent.review.identity import LOGIN_RE

BOT_LOGIN_ENV = "V4AGENT_REVIEW_BOT_LOGIN"
DEPENDABOT_LOGIN = "dependabot[bot]"

# Why a review inside Actions ignores the project file's other keys: said with the keys it ignored.
UNTRUSTED_IN_CI = ("the repository's config is not trusted in CI (--github): the runner checked out the pull "
                   "request's tree; set these through the workflow's flags or environment")


class ActionsError(V4AgentError, exit_code=ExitCode.USAGE):
    """The environment does not describe a pull request; the message says which variable is wrong."""


@dataclass(frozen=True)
class PullRequestEvent:
    """The pull request a workflow run is about, with the API URL and token to answer it through."""

    pull: PullRef
    head_sha: str
    base_sha: str
    base_ref: str
    title: str
    description: str
    api_url: str
    token: str = field(repr=False)  # kept out of repr so it never lands in a log by accident
    bot_login: str = ""  # the account the token posts as, when set by hand; else asked of GitHub
    from_fork: bool = False  # the head branch lives in another repository (or in one since deleted)
    author: str = ""  # the pull request's author's login

    @property
    def without_secrets(self) -> str:
        """Why this run may have no secrets and a read-only token, in words; empty when nothing says so.

        On ``pull_request``, a run for a fork's pull request gets a read-only GITHUB_TOKEN and no secrets
        (docs.github.com/actions/security-for-github-actions/security-guides/automatic-token-authentication
        #permissions-for-the-github_token), and a run Dependabot triggered gets a read-only token and only
        Dependabot's own secrets (docs.github.com/code-security/dependabot/troubleshooting-dependabot/
        troubleshooting-dependabot-on-github-actions).
        """
        if self.author.lower() == DEPENDABOT_LOGIN:
            return "a Dependabot pull request"
        if self.from_fork:
            return "a pull request from a fork"
        return ""


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def read_event(environ: Mapping[str, str] | None = None) -> PullRequestEvent:
    """Parse the Actions environment; raise ActionsError with a clear message when something is missing."""
    env = os.environ if environ is None else environ
    event_path = env.get("GITHUB_EVENT_PATH", "")
    if not event_path:
        raise ActionsError("GITHUB_EVENT_PATH is not set: --github works inside a GitHub Actions run "
                           "(on: pull_request); locally use `v4agent review PATH --base REF`")
    try:
        payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ActionsError(f"cannot read GITHUB_EVENT_PATH {event_path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ActionsError(f"GITHUB_EVENT_PATH {event_path} is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("pull_request"), dict):
        raise ActionsError("the event has no pull_request: run the workflow on `pull_request` "
                           "(or `pull_request_target`) events")
    repository = env.get("GITHUB_REPOSITORY", "") or str(_get(payload, "repository", "full_name") or "")
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name:
        raise ActionsError(f"GITHUB_REPOSITORY must be owner/name, got {repository!r}")
    pr = payload["pull_request"]
    number = pr.get("number", payload.get("number"))
    head_sha = _get(pr, "head", "sha")
    base_sha = _get(pr, "base", "sha")
    if not isinstance(number, int) or not isinstance(head_sha, str) or not isinstance(base_sha, str):
        raise ActionsError("the pull_request event lacks number, head.sha or base.sha")
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        raise ActionsError("GITHUB_TOKEN is not set: add `env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}` "
                           "to the step")
    bot_login = env.get(BOT_LOGIN_ENV, "").strip()
    if bot_login and not LOGIN_RE.match(bot_login):
        raise ActionsError(f"{BOT_LOGIN_ENV} must be a GitHub login (such as my-app[bot]), got {bot_login!r}")
    head = pr.get("head") if isinstance(pr.get("head"), Mapping) else {}
    base_repo = str(_get(pr, "base", "repo", "full_name") or repository)
    # The payload's head.repo is null once the fork is deleted: still not this repository.
    from_fork = "repo" in head and (not isinstance(head["repo"], Mapping)
                                    or str(head["repo"].get("full_name") or "").lower() != base_repo.lower())
    return PullRequestEvent(
        pull=PullRef(owner, name, number),
        head_sha=head_sha,
        base_sha=base_sha,
        base_ref=str(_get(pr, "base", "ref") or ""),
        title=str(pr.get("title") or ""),
        description=str(pr.get("body") or ""),
        api_url=env.get("GITHUB_API_URL") or DEFAULT_API_URL,
        token=token,
        bot_login=bot_login,
        from_fork=from_fork,
        author=str(_get(pr, "user", "login") or ""),
    )
