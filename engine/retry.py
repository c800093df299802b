"""Retries: which failures are worth another attempt, how long to wait, and the final error.

The final error says what was tried. Failures are classified by HTTP status first, then by the codes and
messages DeepSeek documents (https://api-docs.deepseek.com/quick_start/error_codes):

- 429 is a rate limit, retried with jittered backoff. DeepSeek limits concurrency per account and its 429
  reads "Your current concurrency is 40, which exceeds your concurrency limit of 39 based on your remaining
  balance. Please top up..." (https://api-docs.deepseek.com/quick_start/rate_limit): despite the word
  "balance" it is a rate limit. DeepSeek documents no ``Retry-After``; one is honoured when present.
- 402 is insufficient balance: not retried, the hint says to top up.
- 5xx, 408, 409, timeouts, connection resets, a stream cut before anything final was shown, and a reply the
  service interrupted (``insufficient_system_resource``) are retried.
- 401/403 (the key) and other 4xx are not.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from v4agent.engine.limiter import stated_limit
from v4agent.engine.types import FINISH_NO_RESOURCE, EngineBudgetError, EngineError, EngineUnreachable

if TYPE_CHECKING:
    import openai

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and how the delay between them grows (exponential, with jitter, capped)."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    jitter: float = 0.25  # +/- this fraction of the exponential delay
    max_retry_after_s: float = 120.0  # a Retry-After longer than this is capped


@dataclass(frozen=True)
class Failure:
    """A failed call classified: what kind, whether another attempt may help, and a hint for the user."""

    kind: str  # rate_limit, server, connection, timeout, stream_cut, deadline, system_resource, auth, balance,
    #            bad_request, other
    message: str
    retryable: bool
    hint: str = ""
    status: int | None = None
    retry_after: float | None = None
    stated_limit: int | None = None  # a 429 that states the account's concurrency limit


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(policy: RetryPolicy, attempt: int, retry_after: float | None, rand: float) -> float:
    """Delay after failed attempt ``attempt`` (1-based). A server's Retry-After wins (capped)."""
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after_s)
    delay = min(policy.max_delay_s, policy.base_delay_s * 2 ** (attempt - 1))
    return max(0.0, float(delay * (1 + policy.jitter * (2 * rand - 1))))


def _body_error(exc: openai.APIStatusError) -> tuple[str, str]:
    """(message, code) of an error reply's ``{"error": {...}}`` body."""
    body: Any = exc.body
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = str(error["message"]) if error.get("message") else str(exc.message)
            return message, str(error.get("code") or error.get("type") or "")
    return str(exc.message), ""


_RATE_LIMIT_HINT = ("DeepSeek limits how many requests one account may have in flight, and lowers the limit as "
                    "the balance runs down: run fewer at once, or top up")


def _classify_status(exc: openai.APIStatusError) -> Failure:
    status = exc.status_code
    message, code = _body_error(exc)
    text = f"HTTP {status}: {message}"
    headers = exc.response.headers
    if status in (401, 403):
        return Failure("auth", text, False, "check the API key (DEEPSEEK_API_KEY or api_key_env)", status)
    if status == 402:
        return Failure("balance", text, False, "top up the account balance (GET /user/balance shows it), then run "
                                               "again", status)
    if status == 429:
        return Failure("rate_limit", text, True, _RATE_LIMIT_HINT, status, parse_retry_after(headers),
                       stated_limit(message))
    if status >= 500 or status in (408, 409) or FINISH_NO_RESOURCE in (code, message):
        return Failure("server", text, True, "", status, parse_retry_after(headers))
    hint = "the request is longer than the model's window: pack fewer tokens" if "context" in message.lower() else ""
    return Failure("bad_request", text, False, hint, status)


def classify(exc: BaseException) -> Failure:
    """What kind of failure ``exc`` is and whether to try again."""
    import openai  # deferred: the SDK is heavy and only needed once a call has failed

    if isinstance(exc, openai.APIStatusError):
        return _classify_status(exc)
    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", "timed out waiting for the server", True,
                       "the server did not answer: is it up? (timeout.first_byte sets the wait)")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return Failure("connection", f"cannot connect{detail}", True, "is the server running and the base URL right?")
    if isinstance(exc, EngineError):
        return Failure(getattr(exc, "kind", "other"), str(exc), exc.retryable, exc.hint)
    return Failure("other", f"{type(exc).__name__}: {exc}", False)


def run_with_retry(
    attempt: Callable[[int], T],
    policy: RetryPolicy = RetryPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    on_retry: Callable[[Failure, float], None] | None = None,
    what: str = "the request",
) -> T:
    """Call ``attempt(n)`` until it returns or fails for good; the final error lists every attempt."""
    tried: list[str] = []
    for number in range(1, policy.max_attempts + 1):
        try:
            return attempt(number)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            failure = classify(exc)
            tried.append(f"attempt {number}: {failure.message}")
            if not failure.retryable or number == policy.max_attempts:
                raise _final_error(failure, tried, what) from exc
            delay = backoff_delay(policy, number, failure.retry_after, rand())
            if on_retry is not None:
                on_retry(failure, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _final_error(failure: Failure, tried: list[str], what: str) -> EngineError:
    verdict = "gave up" if failure.retryable else "not retried"
    message = f"{what} failed ({verdict}): " + "; ".join(tried)
    if failure.kind in ("auth", "connection", "timeout"):
        return EngineUnreachable(message, hint=failure.hint)
    if failure.kind == "balance":
        return EngineBudgetError(message, hint=failure.hint)
    return EngineError(message, hint=failure.hint)
