"""The JSON objects fake GitHub answers with, carrying every field GitHub's OpenAPI description requires.

The shapes follow the schemas of github/rest-api-description (``simple-user``, ``public-user``,
``pull-request-review``, ``pull-request-review-comment``, ``pull-request``, ``repository``): a field the
description lists as required is always present, and a field it types as non-nullable is left out rather
than sent as null. Links point at the fake's own API URL, or at ``github.invalid`` for the web pages.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

WEB = "https://github.invalid"
CREATED_AT = "2026-10-01T00:00:00Z"

# Every ``*_url`` field of a ``repository``, with the path GitHub gives it under the repository's API URL.
_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors", "deployments_url": "/deployments", "downloads_url": "/downloads",
    "events_url": "/events", "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
    "languages_url": "/languages", "merges_url": "/merges", "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
    "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
}


@dataclass(frozen=True)
class FakeAccount:
    """The account a token acts as: a user, or an app's bot account for an installation token.

    ``can_write``: whether the token may write to the repository. A fork's pull request on ``pull_request``
    gets a read-only GITHUB_TOKEN, which GitHub refuses every write with 403 "Resource not accessible by
    integration" (docs.github.com/actions/security-for-github-actions/security-guides/automatic-token-
    authentication#permissions-for-the-github_token).
    """

    login: str
    id: int
    installation: bool
    can_write: bool = True

    def user_json(self, api_url: str) -> dict[str, Any]:
        """The ``simple-user`` object GitHub puts on what this account posts."""
        api = f"{api_url}/users/{self.login}"
        return {
            "login": self.login, "id": self.id, "node_id": f"U_{self.id}",
            "avatar_url": f"{WEB}/avatars/{self.id}", "gravatar_id": "", "url": api,
            "html_url": f"{WEB}/{self.login}", "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}", "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs", "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events", "type": "Bot" if self.installation else "User",
            "site_admin": False, "user_view_type": "public",
        }

    def public_user_json(self, api_url: str) -> dict[str, Any]:
        """``GET /user``'s answer for this account (the ``public-user`` schema, which admits no other field)."""
        return {**self.user_json(api_url), "name": None, "company": None, "blog": "", "location": None,
                "email": None, "hireable": None, "bio": None, "public_repos": 0, "public_gists": 0,
                "followers": 0, "following": 0, "created_at": CREATED_AT, "updated_at": CREATED_AT}


def repository_json(owner: dict[str, Any], name: str, api_url: str, *, fork: bool = False) -> dict[str, Any]:
    """A ``repository`` object, as the ``repo`` of a pull request's head and base."""
    full = f"{owner['login']}/{name}"
    url = f"{api_url}/repos/{full}"
    data: dict[str, Any] = {key: url + suffix for key, suffix in _REPO_URLS.items()}
    data.update({
        "id": zlib.crc32(full.encode()), "node_id": f"R_{full}", "name": name, "full_name": full, "owner": owner,
        "private": False, "html_url": f"{WEB}/{full}", "description": None, "fork": fork, "url": url,
        "clone_url": f"{WEB}/{full}.git", "git_url": f"git://github.invalid/{full}.git",
        "ssh_url": f"git@github.invalid:{full}.git", "svn_url": f"{WEB}/{full}", "mirror_url": None,
        "homepage": None, "language": None, "forks": 0, "forks_count": 0, "stargazers_count": 0,
        "watchers": 0, "watchers_count": 0, "size": 0, "default_branch": "main", "open_issues": 1,
        "open_issues_count": 1, "has_issues": True, "has_projects": True, "has_wiki": True, "has_pages": False,
        "has_downloads": True, "archived": False, "disabled": False, "license": None,
        "pushed_at": CREATED_AT, "created_at": CREATED_AT, "updated_at": CREATED_AT,
    })
    return data


def review_links(pull_url: str, html_url: str) -> dict[str, Any]:
    """A review's ``_links``."""
    return {"html": {"href": html_url}, "pull_request": {"href": pull_url}}


def comment_links(comment_url: str, pull_url: str, html_url: str) -> dict[str, Any]:
    """A review comment's ``_links``."""
    return {"self": {"href": comment_url}, "html": {"href": html_url}, "pull_request": {"href": pull_url}}


def pull_links(url: str, issue_url: str, html_url: str, head_sha: str, api_repo: str) -> dict[str, Any]:
    """A pull request's ``_links``."""
    return {
        "self": {"href": url}, "html": {"href": html_url}, "issue": {"href": issue_url},
        "comments": {"href": f"{issue_url}/comments"}, "review_comments": {"href": f"{url}/comments"},
        "review_comment": {"href": f"{api_repo}/pulls/comments{{/number}}"},
        "commits": {"href": f"{url}/commits"}, "statuses": {"href": f"{api_repo}/statuses/{head_sha}"},
    }
