"""One error hierarchy for everything hcad raises on purpose.

Every error carries a one-line message a user can act on, and an ``exit_code`` the CLI uses:
2 for usage/validation problems (the user must change their input), 1 for operations that failed
(the server said no, the network broke).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class HcadError(Exception):
    """Base of every error hcad raises deliberately."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HcadError):
    """Bad settings or input given to hcad (arguments, environment, files)."""

    exit_code = 2


@dataclass(frozen=True)
class Issue:
    """One problem found by validation: where it is, what is wrong and how to fix it."""

    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} ({self.fix})" if self.fix else text


class ValidationError(HcadError):
    """Input that breaks a rule; lists every issue at once, each with its field path."""

    exit_code = 2

    def __init__(self, issues: Iterable[Issue] | str, source: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [Issue("", issues)]
        self.issues: list[Issue] = list(issues)
        self.source = source
        prefix = f"{source}: " if source else ""
        if len(self.issues) == 1:
            message = prefix + str(self.issues[0])
        else:
            message = prefix + f"{len(self.issues)} problems: " + "; ".join(str(i) for i in self.issues)
        super().__init__(message)


class NotFound(HcadError):
    """The detector, monitor, index or task does not exist."""


class Conflict(HcadError):
    """The server refused because of state (a running detector, a taken name, a stale version)."""


class PluginMissing(HcadError):
    """A required OpenSearch plugin is not installed on the cluster."""

    def __init__(self, plugin: str, cluster: str, installed: Iterable[str] = ()) -> None:
        self.plugin = plugin
        self.cluster = cluster
        have = ", ".join(sorted(set(installed))) or "none"
        super().__init__(
            f"the {plugin} plugin is not installed on {cluster} (installed: {have}); install it with "
            f"'bin/opensearch-plugin install org.opensearch.plugin:{plugin}:<version>' on every node "
            f"and restart, or on Amazon OpenSearch Service use a domain version that bundles it"
        )


class UnsupportedFeature(HcadError):
    """The server's version does not support what was asked (e.g. _suggest before 3.3)."""

    exit_code = 2


class AuthError(HcadError):
    """Authentication or authorisation failed (HTTP 401/403)."""


class ServerError(HcadError):
    """The server answered with an error hcad has no better name for; keeps the server's message."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        self.status = status
        self.body = body
        super().__init__(message)


class HcadConnectionError(HcadError):
    """The cluster could not be reached (refused, DNS, TLS, timeout)."""


def server_reason(body: Any) -> str:
    """Extract the most specific human message from an OpenSearch error body, as one line.

    Also reads the bodies of what stands in front of clusters: a proxy's HTML error page (its title)
    and AWS's ``{"message": ...}`` (whose multi-line signature reports are folded onto one line).
    """
    return " ".join(_reason(body).split())


def _reason(body: Any) -> str:
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            causes = err.get("root_cause") or []
            if causes and isinstance(causes[0], Mapping) and causes[0].get("reason"):
                reason = str(causes[0]["reason"])
                if err.get("reason") and err.get("reason") != reason:
                    return f"{err['reason']}: {reason}" if len(reason) < 200 else reason
                return reason
            if err.get("reason"):
                return str(err["reason"])
            if err.get("type"):
                return str(err["type"])
        elif err:
            return str(err)
        for key in ("message", "Message"):
            if body.get(key):
                return str(body[key])[:500]
    if body is None:
        return "no details"
    text = str(body)
    if "<" in text:  # an HTML error page: its title says it ("401 Authorization Required")
        m = re.search(r"<title>(.*?)</title>", text, re.S | re.I) or re.search(r"<h1>(.*?)</h1>", text, re.S | re.I)
        if m:
            return m.group(1)
    return " ".join(text.split())[:500]
