"""Connecting to OpenSearch: basic auth, SigV4 (Amazon OpenSearch Service / Serverless) or none.

``connect()`` returns an :class:`HcadClient`, an ordinary opensearch-py ``OpenSearch`` client with a few
additions (plugin checks, server version, and one namespaced client per plugin: ``.ad``, ``.monitors``
(alerting), ``.channels`` (notifications)). Settings come from
arguments first, then the environment:

==================  ==========================================================
``HCAD_URL``        cluster URL (default ``http://127.0.0.1:9200``)
``HCAD_AUTH``       ``basic`` | ``sigv4`` | ``none`` (default: basic when a user is set, else none)
``HCAD_USER``       user name for basic auth
``HCAD_PASSWORD``   password for basic auth
``HCAD_AWS_SERVICE`` ``es`` (managed domains, default) or ``aoss`` (Serverless)
``AWS_REGION``      region for SigV4 (also ``AWS_DEFAULT_REGION``; else the boto3 session's)
``HCAD_CA_CERTS``   path of a CA bundle to verify the server's certificate with
``HCAD_INSECURE``   ``1`` to skip TLS verification (never the default)
``HCAD_TIMEOUT``    request timeout in seconds (default 30)
==================  ==========================================================
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from opensearchpy import OpenSearch, RequestsHttpConnection, Urllib3HttpConnection

from hcad.errors import ConfigError, PluginMissing

# Re-exported: callers have always found these here.
from hcad.transport import (  # noqa: F401
    AD_PLUGIN,
    ALERTING_PLUGIN,
    JOB_SCHEDULER_PLUGIN,
    NOTIFICATIONS_PLUGIN,
    RETRY_ON_STATUS,
    RetryingTransport,
    parse_version,
    translate_errors,
)

if TYPE_CHECKING:
    from hcad.ad.client import AnomalyDetection
    from hcad.alerting.client import Alerting, Notifications

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:9200"
AUTH_MODES = ("basic", "sigv4", "none")
AWS_SERVICES = ("es", "aoss")

_TRUE = {"1", "true", "yes", "on"}


def redact_url(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part, even when the URL is malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal: cut by hand below
        parts, port = None, None
    if parts is None or (parts.username is None and parts.password is None):
        # No scheme (or a broken one) hides userinfo from urlsplit: cut up to the last '@' of the
        # authority by hand so a mistyped URL never echoes a password back.
        # A password holding '/', '?' or '#' ends the authority early: cut up to the last '@' of the rest.
        scheme, sep, rest = url.partition("//") if "//" in url else ("", "", url)
        if "@" in rest:
            return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal: keep its brackets
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to build a client. ``repr`` never shows the password."""

    url: str = DEFAULT_URL
    auth: str = "none"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    region: str | None = None
    service: str = "es"
    ca_certs: str | None = None
    verify: bool = True
    timeout: float = 30.0
    max_retries: int = 3

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}={v!r}"
            for k, v in (
                ("url", self.url),
                ("auth", self.auth),
                ("user", self.user),
                ("password", "***" if self.password else None),
                ("region", self.region),
                ("service", self.service),
                ("ca_certs", self.ca_certs),
                ("verify", self.verify),
                ("timeout", self.timeout),
            )
        )
        return f"ConnectionSettings({shown})"

    __str__ = __repr__

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        *,
        auth: str | None = None,
        user: str | None = None,
        password: str | None = None,
        region: str | None = None,
        service: str | None = None,
        ca_certs: str | None = None,
        verify: bool | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ConnectionSettings:
        """Merge explicit arguments over environment variables and validate the result."""
        env = os.environ if env is None else env
        url = url or env.get("HCAD_URL") or DEFAULT_URL
        if not isinstance(url, str):
            raise ConfigError(f"url must be a string such as https://host:9200, not {type(url).__name__}")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - a bad port raises here, not later in opensearch-py
        except ValueError:  # its text can hold part of a password: not repeated
            raise ConfigError(
                f"url {redact_url(url)!r} is not a valid URL: a bad port or IPv6 address, or a password holding "
                "'/', '?' or '#' (percent-encode it, or pass --password); give it as https://host:port"
            ) from None
        if parts.scheme.lower() in ("http", "https"):
            # One spelling of the scheme, so every later https check holds for HTTPS:// too.
            url = parts.scheme.lower() + url[len(parts.scheme) :]
            parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"url {redact_url(url)!r} is not an http(s) URL; give it as https://host:port (HCAD_URL or --url)"
            )
        if parts.query or parts.fragment:
            # Said without the query: tokens are sometimes passed that way, and errors must not echo them.
            raise ConfigError(
                f"url {redact_url(url).split('?')[0].split('#')[0]!r} has a query or fragment; give the cluster's "
                "base URL (credentials go in --user/--password or HCAD_USER/HCAD_PASSWORD)"
            )
        # Credentials embedded in the URL are moved out of it so they never show up in reprs or logs.
        from_url = parts.username is not None
        if parts.username is not None:
            user = user or unquote(parts.username)
            password = password or (unquote(parts.password) if parts.password is not None else None)
            url = redact_url(url)
        user = user or env.get("HCAD_USER") or None
        password = password if password is not None else env.get("HCAD_PASSWORD")
        auth = (auth or env.get("HCAD_AUTH") or ("basic" if user else "none")).lower()
        if auth not in AUTH_MODES:
            raise ConfigError(f"auth {auth!r} is not one of {', '.join(AUTH_MODES)} (HCAD_AUTH or --auth)")
        if auth == "basic" and not user:
            raise ConfigError("auth 'basic' needs a user: set HCAD_USER or --user")
        if auth == "basic" and password is None:
            # A user in the URL may be a token: not echoed.
            whose = "the user in the URL" if from_url and user == unquote(parts.username or "") else f"user {user!r}"
            raise ConfigError(f"auth 'basic' needs a password for {whose}: set HCAD_PASSWORD or --password")
        service = (service or env.get("HCAD_AWS_SERVICE") or "es").lower()
        if service not in AWS_SERVICES:
            raise ConfigError(f"service {service!r} is not 'es' (managed domain) or 'aoss' (Serverless)")
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        ca_certs = ca_certs or env.get("HCAD_CA_CERTS") or None
        if ca_certs and not os.path.isfile(ca_certs):
            raise ConfigError(f"ca_certs {ca_certs!r} does not exist; give the path of a PEM CA bundle")
        if verify is None:
            verify = env.get("HCAD_INSECURE", "").strip().lower() not in _TRUE
        if timeout is None:
            raw = env.get("HCAD_TIMEOUT", "30")
            try:
                timeout = float(raw)
            except ValueError:
                raise ConfigError(f"HCAD_TIMEOUT {raw!r} is not a number of seconds") from None
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise ConfigError(f"timeout {timeout!r} must be a number of seconds, e.g. 30")
        if not 0 < timeout < float("inf"):  # also refuses nan
            raise ConfigError(f"timeout {timeout} must be a positive number of seconds")
        if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int)
                                        or max_retries < 0):  # fmt: skip
            raise ConfigError(f"max_retries {max_retries!r} must be a whole number ≥ 0, e.g. 3")
        return cls(
            url=url.rstrip("/"),
            auth=auth,
            user=user,
            password=password,
            region=region,
            service=service,
            ca_certs=ca_certs,
            verify=bool(verify),
            timeout=float(timeout),
            max_retries=3 if max_retries is None else max_retries,
        )


def sigv4_auth(region: str | None, service: str = "es", session: Any = None) -> Any:
    """Build a requests-aws4auth signer whose credentials refresh themselves (Lambda, SSO, roles)."""
    import boto3
    from requests_aws4auth import AWS4Auth

    session = session or boto3.Session(region_name=region)
    region = region or session.region_name
    if not region:
        raise ConfigError("auth 'sigv4' needs a region: set AWS_REGION or --region")
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError(
            "auth 'sigv4' found no AWS credentials: set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "or run where an IAM role is attached"
        )
    return AWS4Auth(region=region, service=service, refreshable_credentials=credentials)


class HcadClient(OpenSearch):
    """An opensearch-py client that knows which plugins and version the cluster has."""

    settings: ConnectionSettings

    def __init__(self, settings: ConnectionSettings, **kwargs: Any) -> None:
        self.settings = settings
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<HcadClient {self.settings.url} auth={self.settings.auth}>"

    @cached_property
    def installed_plugins(self) -> frozenset[str]:
        """Names of the plugins installed on the cluster (``_cat/plugins``; cached).

        (Not ``plugins``: opensearch-py already uses that name for its plugin API namespaces.)
        """
        with translate_errors("listing plugins"):
            rows = self.cat.plugins(format="json")
        return frozenset(str(r.get("component")) for r in rows)

    def require_plugin(self, plugin: str) -> None:
        """Raise :class:`PluginMissing` unless ``plugin`` is installed."""
        if plugin not in self.installed_plugins:
            raise PluginMissing(plugin, self.settings.url, self.installed_plugins)

    @cached_property
    def version(self) -> tuple[int, int, int]:
        """The server's version as a tuple, e.g. ``(2, 19, 4)``."""
        with translate_errors("reading the server version"):
            number = str(self.info()["version"]["number"])
        return parse_version(number)

    @cached_property
    def ad(self) -> AnomalyDetection:
        """The anomaly-detection client (checks the plugin is installed on first use)."""
        from hcad.ad.client import AnomalyDetection

        return AnomalyDetection(self)

    # Not ``alerting``/``notifications``: opensearch-py sets those names on every client (legacy aliases
    # of ``client.plugins.*``), probing them with hasattr() while it is constructed.
    @cached_property
    def monitors(self) -> Alerting:
        """The alerting plugin's monitor API (checks the plugin is installed on first use)."""
        from hcad.alerting.client import Alerting

        return Alerting(self)

    @cached_property
    def channels(self) -> Notifications:
        """The notifications plugin's channel API (checks the plugin is installed on first use)."""
        from hcad.alerting.client import Notifications

        return Notifications(self)


def connect(
    url: str | None = None,
    *,
    auth: str | None = None,
    user: str | None = None,
    password: str | None = None,
    region: str | None = None,
    service: str | None = None,
    ca_certs: str | None = None,
    verify: bool | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    boto3_session: Any = None,
) -> HcadClient:
    """Connect to an OpenSearch cluster.

    Arguments override the environment (see the module docstring). TLS certificates are verified
    unless ``verify=False`` (or ``HCAD_INSECURE=1``) is given explicitly. Nothing is sent until the
    first request; the anomaly-detection plugin is checked on first use of ``client.ad``.
    """
    s = ConnectionSettings.resolve(
        url,
        auth=auth,
        user=user,
        password=password,
        region=region,
        service=service,
        ca_certs=ca_certs,
        verify=verify,
        timeout=timeout,
        max_retries=max_retries,
    )
    return client_from_settings(s, boto3_session=boto3_session)


def client_from_settings(s: ConnectionSettings, boto3_session: Any = None) -> HcadClient:
    """Build the client for resolved settings."""
    kwargs: dict[str, Any] = {
        "hosts": [s.url],
        "timeout": s.timeout,
        "max_retries": s.max_retries,
        "retry_on_timeout": True,
        # Retried with backoff (RetryingTransport): an overloaded node answers 429, a node restarting
        # behind a load balancer 502-504. At most max_retries times, then a one-line error.
        "retry_on_status": RETRY_ON_STATUS,
        "transport_class": RetryingTransport,
        "http_compress": True,
    }
    if urlsplit(s.url).scheme == "https":
        kwargs.update(use_ssl=True, verify_certs=s.verify, ssl_show_warn=s.verify)
        if s.verify:
            kwargs["ca_certs"] = s.ca_certs or _default_ca_bundle()
        else:
            kwargs.update(ssl_assert_hostname=False)
    if s.auth == "sigv4":
        kwargs["http_auth"] = sigv4_auth(s.region, s.service, boto3_session)
        kwargs["connection_class"] = RequestsHttpConnection
        # SigV4 signs the body; compression after signing would break the signature.
        kwargs["http_compress"] = False
    else:
        if s.auth == "basic":
            kwargs["http_auth"] = (s.user, s.password or "")
        kwargs["connection_class"] = Urllib3HttpConnection
    return HcadClient(s, **kwargs)


def _default_ca_bundle() -> str | None:
    try:
        import certifi

        return str(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None


def with_settings(client: HcadClient, **changes: Any) -> HcadClient:
    """A new client like ``client`` with some settings changed (e.g. a longer timeout)."""
    return client_from_settings(replace(client.settings, **changes))
