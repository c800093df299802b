"""Who the review bot is on GitHub, so that it edits and trusts only what it wrote itself.

A pull request is hostile ground: anyone who can comment can post a review carrying the bot's summary marker
or its fingerprint markers. So the bot recognises its own reviews and comments by their author, never by
their text, and the author is the identity of the token it posts with:

- a user's token (a personal access token, a user-to-server token): ``GET /user`` answers the account
  (docs.github.com/rest/users/users#get-the-authenticated-user);
- the GITHUB_TOKEN of a GitHub Actions run is an installation access token of the GitHub Actions app
  (docs.github.com/actions/security-for-github-actions/security-guides/automatic-token-authentication).
  ``GET /user`` refuses such a token with 403 "Resource not accessible by integration" (the endpoint's
  docs list 403; the wording as GitHub sends it: actions/create-github-app-token#258), and what it posts
  is authored by the app's bot account, ``user.login`` "github-actions[bot]" with ``user.type`` "Bot"
  (the ``user`` object of docs.github.com/rest/pulls/reviews and /rest/pulls/comments);
- any other app's installation token is refused the same way but posts as ``<app-slug>[bot]``, which the
  token cannot tell: name it with V4AGENT_REVIEW_BOT_LOGIN (read by ``actions.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from v4agent.review.github import GitHubClient, GitHubError

ACTIONS_BOT_LOGIN = "github-actions[bot]"
INSTALLATION_REFUSAL = "Resource not accessible by integration"
# A login: letters, digits and single hyphens, at most 39 characters; an app's bot account adds "[bot]".
LOGIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(?:\[bot\])?$")


@dataclass(frozen=True)
class BotIdentity:
    """The login the bot's reviews and comments are authored by, and how it was found."""

    login: str
    source: str  # "override", "GET /user" or "installation token"

    @property
    def is_app(self) -> bool:
        """True for an app's bot account (``name[bot]``)."""
        return self.login.lower().endswith("[bot]")

    def authored(self, item: Mapping[str, Any]) -> bool:
        """True when a review or comment object from GitHub was written by this identity."""
        user = item.get("user")
        if not isinstance(user, Mapping):
            return False  # GitHub sends null for a deleted account ("ghost"): never ours
        login = user.get("login")
        if not isinstance(login, str) or login.lower() != self.login.lower():  # logins ignore case
            return False
        # No person's login can contain "[bot]", but an app's account must also say it is one.
        return not self.is_app or user.get("type") == "Bot"


def resolve_identity(client: GitHubClient, override: str = "") -> BotIdentity:
    """The identity the client's token posts as: ``override`` if given, else asked of GitHub.

    Raises GitHubError when GitHub refuses for another reason than an installation token (a bad token, say).
    """
    if override:
        return BotIdentity(override, "override")
    try:
        user = client.get_authenticated_user()
    except GitHubError as exc:
        if exc.status == 403 and INSTALLATION_REFUSAL.lower() in exc.detail.lower():
            return BotIdentity(ACTIONS_BOT_LOGIN, "installation token")
        raise
    login = user.get("login")
    if not isinstance(login, str) or not LOGIN_RE.match(login):
        raise GitHubError(f"GitHub's GET /user answered no usable login ({login!r}); "
                          "set V4AGENT_REVIEW_BOT_LOGIN to the account the token posts as")
    return BotIdentity(login, "GET /user")
