"""An HTTP error reply as the ``openai`` SDK's own exception class, so callers see what its requests raise."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    import openai

__all__ = ["status_error"]


def _status_error_classes() -> dict[int, type[openai.APIStatusError]]:
    import openai  # imported on first use: it costs about a second at CLI start-up

    return {
        400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
        404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }


def status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The SDK's exception for an HTTP error reply (the same classes its own requests raise)."""
    import openai

    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = response.text or None
    error = body.get("error") if isinstance(body, dict) else None
    message = str(error.get("message")) if isinstance(error, dict) and error.get("message") else (
        f"Error code: {response.status_code} - {body}")
    cls = _status_error_classes().get(response.status_code)
    if cls is None:
        cls = openai.InternalServerError if response.status_code >= 500 else openai.APIStatusError
    return cls(message, response=response, body=body)
