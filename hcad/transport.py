"""Talking to a cluster, below every plugin client: plugin names, version parsing and the mapping of
opensearch-py's exceptions to hcad's errors. It imports no hcad client, so every client can use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opensearchpy import exceptions as osx

from hcad.errors import AuthError, Conflict, HcadConnectionError, HcadError, NotFound, ServerError, server_reason

AD_PLUGIN = "opensearch-anomaly-detection"
ALERTING_PLUGIN = "opensearch-alerting"
JOB_SCHEDULER_PLUGIN = "opensearch-job-scheduler"
NOTIFICATIONS_PLUGIN = "opensearch-notifications"


def parse_version(number: str) -> tuple[int, int, int]:
    """``'2.19.4'`` or ``'3.0.0-beta1'`` → ``(2, 19, 4)`` / ``(3, 0, 0)``."""
    core = number.split("-")[0].split("+")[0]
    nums = [int(p) for p in core.split(".")[:3] if p.isdigit()]
    while len(nums) < 3:
        nums.append(0)
    return (nums[0], nums[1], nums[2])


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
    except (osx.AuthenticationException, osx.AuthorizationException) as e:
        raise AuthError(
            f"{action}: {'authentication' if e.status_code == 401 else 'authorisation'} failed "
            f"(HTTP {e.status_code}); check the user/password or the IAM role's permissions"
        ) from e
    except osx.ConnectionTimeout as e:
        raise HcadConnectionError(f"{action}: the cluster did not answer in time ({e.__class__.__name__})") from e
    except osx.SSLError as e:
        raise HcadConnectionError(
            f"{action}: TLS verification failed ({_short(e)}); pass the cluster's CA with --ca-certs/HCAD_CA_CERTS"
        ) from e
    except osx.ConnectionError as e:
        raise HcadConnectionError(f"{action}: cannot reach the cluster ({_short(e)})") from e
    except osx.TransportError as e:
        status = e.status_code if isinstance(e.status_code, int) else None
        raise ServerError(f"{action}: {server_reason(e.info)}", status=status, body=e.info) from e


def _short(e: Exception) -> str:
    text = " ".join(str(getattr(e, "info", None) or e).split())
    return text[:300]
