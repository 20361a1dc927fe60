"""Talking to a cluster, below every plugin client: plugin names, version parsing, the retry policy
(:class:`RetryingTransport`) and the mapping of opensearch-py's exceptions to hcad's errors. It imports
no hcad client, so every client can use it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from opensearchpy import Transport
from opensearchpy import exceptions as osx

from hcad.errors import (
    AuthError,
    ConfigError,
    Conflict,
    HcadConnectionError,
    HcadError,
    NotFound,
    ServerError,
    server_reason,
)

AD_PLUGIN = "opensearch-anomaly-detection"
ALERTING_PLUGIN = "opensearch-alerting"
JOB_SCHEDULER_PLUGIN = "opensearch-job-scheduler"
NOTIFICATIONS_PLUGIN = "opensearch-notifications"

log = logging.getLogger(__name__)

# Answers worth another try: overloaded (429) and gateways or nodes restarting (502-504).
RETRY_ON_STATUS = (429, 502, 503, 504)


class RetryingTransport(Transport):
    """opensearch-py's transport, waiting between retries instead of retrying at once.

    opensearch-py retries a refused or cut connection, a timeout and ``retry_on_status`` answers up to
    ``max_retries`` times, back to back, which a restarting or overloaded node cannot absorb. Here the
    n-th retry waits ``backoff * 2**(n-1)`` seconds (capped at ``backoff_cap``, with jitter), except
    after a TLS verification failure, which no wait fixes. The attempts made are recorded on the
    final exception as ``hcad_attempts`` for the error message.
    """

    backoff = 0.5
    backoff_cap = 8.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempts = threading.local()

    def perform_request(self, *args: Any, **kwargs: Any) -> Any:
        """opensearch-py's request with its retries, counting attempts afresh for each request."""
        self._attempts.n = 0
        return super().perform_request(*args, **kwargs)

    def mark_dead(self, connection: Any) -> None:
        # Called by the retry loop for each failed attempt it may retry, inside its ``except``.
        super().mark_dead(connection)
        n = self._attempts.n = getattr(self._attempts, "n", 0) + 1
        exc: Any = sys.exc_info()[1]
        if exc is not None:
            with contextlib.suppress(AttributeError):
                exc.hcad_attempts = n
        if n > self.max_retries or isinstance(exc, osx.SSLError):
            return
        delay = min(self.backoff_cap, self.backoff * 2 ** (n - 1)) * random.uniform(0.75, 1.0)
        log.info("attempt %d failed (%s); retrying in %.1fs", n, type(exc).__name__, delay)
        time.sleep(delay)


def parse_version(number: str) -> tuple[int, int, int]:
    """``'2.19.4'`` or ``'3.0.0-beta1'`` → ``(2, 19, 4)`` / ``(3, 0, 0)``."""
    core = number.split("-")[0].split("+")[0]
    nums = [int(p) for p in core.split(".")[:3] if p.isdigit()]
    while len(nums) < 3:
        nums.append(0)
    return (nums[0], nums[1], nums[2])


def quoted_id(value: object, what: str, fix: str, *, safe: str = "") -> str:
    """``value`` quoted for a URL path (``safe``: characters left as they are, e.g. ``","`` for a list); a
    one-line :class:`ConfigError` naming ``what`` when it is empty or not a string (before any request)."""
    if not isinstance(value, str) or not value:
        got = "empty" if value in ("", None) else f"{type(value).__name__} {value!r}, not a string"
        raise ConfigError(f"{what} is {got}; {fix}")
    return quote(value, safe=safe)


@contextlib.contextmanager
def translate_errors(action: str, *, not_found: str | None = None) -> Iterator[None]:
    """Turn opensearch-py exceptions into hcad errors with a one-line message.

    ``action`` says what was being done ("creating detector x"); ``not_found`` replaces the message
    for a 404 when the caller knows better what is missing.
    """
    try:
        yield
    except HcadError:
        raise
    except osx.NotFoundError as e:
        raise NotFound(not_found or f"{action}: not found ({server_reason(e.info)})") from e
    except osx.ConflictError as e:
        raise Conflict(f"{action}: {server_reason(e.info)}") from e
    except osx.AuthenticationException as e:
        raise AuthError(
            f"{action}: authentication failed (HTTP 401: {_reason(e)}); the cluster refused the credentials: "
            "check the user and password (HCAD_USER/HCAD_PASSWORD) or the AWS credentials"
        ) from e
    except osx.AuthorizationException as e:
        if _SIGV4_REFUSAL.search(_reason(e)):  # AWS answers 403 to a bad or stale signature
            raise AuthError(
                f"{action}: AWS refused the request's signature (HTTP 403: {_reason(e)}); check the AWS "
                "credentials (they may have expired), the region and service (--region, HCAD_AWS_SERVICE) and "
                "this machine's clock"
            ) from e
        raise AuthError(
            f"{action}: permission denied (HTTP 403: {_reason(e)}); the credentials were accepted but this user "
            "or IAM role may not do this: grant it the permission (a role on the cluster, the domain's access "
            "policy) or use another user"
        ) from e
    except osx.ConnectionTimeout as e:
        raise HcadConnectionError(
            f"{action}: the cluster did not answer in time{_tries(e)} (the timeout is HCAD_TIMEOUT seconds)"
        ) from e
    except osx.SSLError as e:
        raise HcadConnectionError(
            f"{action}: TLS verification failed ({_cause(e)}); pass the cluster's CA bundle with "
            "--ca-certs or HCAD_CA_CERTS (HCAD_INSECURE=1 skips verification)"
        ) from e
    except osx.ConnectionError as e:
        raise HcadConnectionError(f"{action}: cannot reach the cluster ({_cause(e)}){_tries(e)}") from e
    except osx.TransportError as e:
        status = e.status_code if isinstance(e.status_code, int) else None
        if status in RETRY_ON_STATUS:
            what = {429: "is overloaded", 503: "is unavailable"}.get(status, "gateway failed")
            raise ServerError(
                f"{action}: the cluster {what} (HTTP {status}: {_reason(e)}){_tries(e)}; try again later"
                + (", or send less at once" if status == 429 else ""),
                status=status,
                body=e.info,
            ) from e
        raise ServerError(f"{action}: {server_reason(_body(e))}", status=status, body=e.info) from e


def _body(e: osx.TransportError) -> object:
    """The error's body: parsed JSON, else the raw text (a proxy's HTML page is not JSON)."""
    return e.info if e.info is not None else e.error


def _reason(e: osx.TransportError) -> str:
    return server_reason(_body(e))[:300]


def _tries(e: Exception) -> str:
    n = getattr(e, "hcad_attempts", None)
    return f" after {n} attempts with backoff" if isinstance(n, int) and n > 1 else ""


_SIGV4_REFUSAL = re.compile(r"(?i)signature|security token|x-amz-|credential should be scoped")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^)(\'\"]+)")
_CERT = re.compile(r"certificate verify failed: ([^)(\'\"]+)")


def _cause(e: Exception) -> str:
    """The gist of a low-level connection error ('Connection refused'), not urllib3's object dump."""
    text = " ".join(str(getattr(e, "info", None) or e).split())
    for pattern in (_CERT, _ERRNO):
        m = pattern.search(text)
        if m:
            return m.group(1).strip()
    if re.search(r"RemoteDisconnected|Connection aborted|without response", text):
        return "the connection was closed without an answer"
    return text[:300]
