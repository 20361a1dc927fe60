"""The alerting and notifications plugins' REST APIs: one thin method per endpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hcad.errors import ConfigError, Issue, NotFound
from hcad.transport import ALERTING_PLUGIN, NOTIFICATIONS_PLUGIN, quoted_id, translate_errors

if TYPE_CHECKING:
    from hcad.ad.model import Detector

MONITORS = "/_plugins/_alerting/monitors"
NOTIFICATIONS_CONFIGS = "/_plugins/_notifications/configs"
UI_METADATA_USER_AGENT = "hcad (reads ui_metadata like OpenSearch-Dashboards)"
NOTIFICATIONS = "/_plugins/_notifications"
NOTIFICATIONS_DOCS = "https://opensearch.org/docs/2.19/observing-your-data/notifications/api/"


class _PluginApi:
    """One plugin's REST API on a client: checks the plugin on creation, maps errors to hcad's."""

    PLUGIN = ""

    def __init__(self, client: Any, *, check_plugin: bool = True) -> None:
        self.client = client
        if check_plugin and hasattr(client, "require_plugin"):
            client.require_plugin(self.PLUGIN)

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        not_found: str | None = None,
        ui_metadata: bool = False,
    ) -> Any:
        headers = {"user-agent": UI_METADATA_USER_AGENT} if ui_metadata else None  # opensearch-py keys it lowercase
        with translate_errors(action, not_found=not_found):
            return self.client.transport.perform_request(
                method, path, params=dict(params or {}), body=body, headers=headers
            )


def _quoted(value: Any, what: str) -> str:
    return quoted_id(value, what, "pass the id the plugin returned (list or get by name first)")


class Alerting(_PluginApi):
    """The alerting plugin's monitor API (``/_plugins/_alerting/monitors``) with hcad errors."""

    PLUGIN = ALERTING_PLUGIN

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a monitor; returns ``{_id, _version, _seq_no, _primary_term, monitor}``."""
        if not isinstance(body, Mapping):
            raise ConfigError(f"a monitor body is a mapping (see build_monitor), not {type(body).__name__}")
        return dict(self._call("POST", MONITORS, f"creating monitor {body.get('name')!r}", body=dict(body)))

    def update(
        self,
        monitor_id: str,
        body: Mapping[str, Any],
        *,
        if_seq_no: int | None = None,
        if_primary_term: int | None = None,
    ) -> dict[str, Any]:
        """Replace a monitor (optimistic concurrency when ``if_seq_no``/``if_primary_term`` are given, as in
        :meth:`hcad.ad.client.AnomalyDetection.update`)."""
        params = {}
        if if_seq_no is not None and if_primary_term is not None:
            params = {"if_seq_no": if_seq_no, "if_primary_term": if_primary_term}
        return dict(
            self._call(
                "PUT",
                f"{MONITORS}/{_quoted(monitor_id, 'monitor id')}",
                f"updating monitor {body.get('name')!r}",
                params=params,
                body=dict(body),
                not_found=f"monitor {monitor_id!r} does not exist",
            )
        )

    def get(self, monitor_id: str) -> dict[str, Any]:
        """One monitor by id (``{_id, _version, _seq_no, _primary_term, monitor}``)."""
        return dict(
            self._call(
                "GET",
                f"{MONITORS}/{_quoted(monitor_id, 'monitor id')}",
                f"getting monitor {monitor_id}",
                not_found=f"monitor {monitor_id!r} does not exist",
                ui_metadata=True,
            )
        )

    def delete(self, monitor_id: str) -> dict[str, Any]:
        """Delete a monitor by id."""
        return dict(
            self._call(
                "DELETE",
                f"{MONITORS}/{_quoted(monitor_id, 'monitor id')}",
                f"deleting monitor {monitor_id}",
                not_found=f"monitor {monitor_id!r} does not exist",
            )
        )

    def search(self, query: Mapping[str, Any] | None = None, *, size: int = 1000) -> list[dict[str, Any]]:
        """Monitors matching ``query`` as ``{id, seq_no, primary_term, monitor}`` (none when none exist yet)."""
        body = {
            "query": dict(query or {"exists": {"field": "monitor.name"}}),
            "size": size,
            "seq_no_primary_term": True,
        }
        try:
            resp = self._call("POST", f"{MONITORS}/_search", "searching monitors", body=body, ui_metadata=True)
        except NotFound:
            return []  # no monitor was ever created: the config index does not exist
        out = []
        for hit in (resp.get("hits") or {}).get("hits") or []:
            src = hit.get("_source") or {}
            monitor = src.get("monitor", src) if isinstance(src, Mapping) else {}
            if monitor.get("type", "monitor") != "monitor":
                continue  # workflows share the index
            out.append(
                {
                    "id": hit.get("_id"),
                    "seq_no": hit.get("_seq_no"),
                    "primary_term": hit.get("_primary_term"),
                    "monitor": monitor,
                }
            )
        return out

    def find(self, name: str) -> dict[str, Any] | None:
        """The monitor with exactly this name, or None."""
        hits = self.search({"term": {"monitor.name.keyword": name}}, size=10)
        exact = [h for h in hits if h["monitor"].get("name") == name]
        return exact[0] if exact else None

    def resolve(self, name_or_id: str) -> dict[str, Any]:
        """A monitor by name, else by id; :class:`NotFound` when neither exists."""
        hit = self.find(name_or_id)
        if hit is not None:
            return hit
        try:
            resp = self.get(name_or_id)
        except NotFound:
            raise NotFound(
                f"no monitor is named or has the id {name_or_id!r}; list them with 'hcad monitors list'"
            ) from None
        return {
            "id": resp.get("_id"),
            "seq_no": resp.get("_seq_no"),
            "primary_term": resp.get("_primary_term"),
            "monitor": resp.get("monitor") or {},
        }

    def execute(
        self,
        *,
        monitor_id: str | None = None,
        body: Mapping[str, Any] | None = None,
        period_end_ms: int | None = None,
        dryrun: bool = True,
    ) -> dict[str, Any]:
        """Run a stored monitor (``monitor_id``) or a monitor body once; ``dryrun`` sends no notification."""
        if (monitor_id is None) == (body is None):
            raise ConfigError("execute needs exactly one of monitor_id or body")
        params: dict[str, Any] = {"dryrun": "true" if dryrun else "false"}
        if period_end_ms is not None:
            params["period_end"] = f"{int(period_end_ms)}ms"  # parsed as a time value: a unit is required
        path = f"{MONITORS}/{_quoted(monitor_id, 'monitor id')}/_execute" if monitor_id else f"{MONITORS}/_execute"
        return dict(
            self._call("POST", path, "running monitor", params=params, body=dict(body) if body is not None else None)
        )

    def alerts(self, monitor_id: str | None = None, *, state: str = "ALL", size: int = 100) -> list[dict[str, Any]]:
        """Alerts (``GET monitors/alerts``), optionally of one monitor and one state (ACTIVE, ...)."""
        params: dict[str, Any] = {"size": size, "alertState": state}
        if monitor_id:
            params["monitorId"] = monitor_id
        resp = self._call("GET", f"{MONITORS}/alerts", "listing alerts", params=params)
        return list(resp.get("alerts") or [])


class Notifications(_PluginApi):
    """The notifications plugin's REST API (``/_plugins/_notifications``), one thin method per endpoint.

    Paths, parameters and bodies follow the plugin's REST handlers at 2.19.4.0
    (``NotificationConfigRestHandler``, ``NotificationChannelListRestHandler``,
    ``NotificationFeaturesRestHandler``, ``SendTestMessageRestHandler``); errors are hcad errors with
    one-line messages. Documentation: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/
    """

    PLUGIN = NOTIFICATIONS_PLUGIN

    def features(self) -> dict[str, Any]:
        """``GET _plugins/_notifications/features``: the allowed config types (``allowed_config_type_list``,
        the ``opensearch.notifications.core.allowed_config_types`` setting) and plugin features.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#list-supported-channel-configurations
        """
        return dict(self._call("GET", f"{NOTIFICATIONS}/features", "reading notification features"))

    def channels(self) -> list[dict[str, Any]]:
        """``GET _plugins/_notifications/channels``: every channel as ``{config_id, name, description,
        config_type, is_enabled}``.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#list-all-notification-channels
        """
        resp = self._call("GET", f"{NOTIFICATIONS}/channels", "listing notification channels")
        return list(resp.get("channel_list") or [])

    def list_configs(
        self, *, config_types: Sequence[str] = (), name: str | None = None, page_size: int = 100
    ) -> list[dict[str, Any]]:
        """``GET _plugins/_notifications/configs``, every page: configs as ``{config_id, config, ...}``.

        ``config_types`` filters by ``config_type``; ``name`` keeps configs with exactly this name (the
        plugin's ``name.keyword`` terms filter, which splits its value at commas: check ``config.name``
        when a name has one). Pages are read in creation order.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#list-all-notification-configurations
        """
        # sort_field takes only the plugin's filter fields and times (config_id is refused with 406)
        params: dict[str, Any] = {"max_items": page_size, "sort_field": "created_time_ms", "sort_order": "asc"}
        if config_types:
            params["config_type"] = ",".join(config_types)
        if name:
            params["name.keyword"] = name
        out: list[dict[str, Any]] = []
        while True:
            resp = self._call(
                "GET", NOTIFICATIONS_CONFIGS, "listing notification channels", params={**params, "from_index": len(out)}
            )
            page = list(resp.get("config_list") or [])
            out += page
            if not page or len(out) >= int(resp.get("total_hits") or 0):
                return out

    def get_config(self, config_id: str) -> dict[str, Any]:
        """``GET _plugins/_notifications/configs/{config_id}``: ``{config_id, config, ...}``;
        :class:`NotFound` when there is no such channel.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#get-channel-configuration
        """
        resp = self._call(
            "GET",
            f"{NOTIFICATIONS_CONFIGS}/{_quoted(config_id, 'channel id')}",
            f"getting notification channel {config_id!r}",
            not_found=f"notification channel {config_id!r} does not exist",
        )
        found = list(resp.get("config_list") or [])
        if not found:
            raise NotFound(f"notification channel {config_id!r} does not exist")
        return dict(found[0])

    def create_config(self, *, config: Mapping[str, Any], config_id: str | None = None) -> str:
        """``POST _plugins/_notifications/configs``: create a channel (with ``config_id`` when given,
        else the plugin picks one); returns its id.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#create-channel-configuration
        """
        body: dict[str, Any] = {"config": dict(config)}
        if config_id is not None:
            body["config_id"] = config_id
        resp = self._call(
            "POST", NOTIFICATIONS_CONFIGS, f"creating notification channel {config.get('name')!r}", body=body
        )
        return str(resp.get("config_id"))

    def update_config(self, config_id: str, *, config: Mapping[str, Any]) -> str:
        """``PUT _plugins/_notifications/configs/{config_id}``: replace a channel's config (its type
        cannot change: the plugin answers 409); returns its id.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#update-channel-configuration
        """
        resp = self._call(
            "PUT",
            f"{NOTIFICATIONS_CONFIGS}/{_quoted(config_id, 'channel id')}",
            f"updating notification channel {config.get('name')!r}",
            body={"config": dict(config)},
            not_found=f"notification channel {config_id!r} does not exist",
        )
        return str(resp.get("config_id"))

    def delete_config(self, config_id: str) -> dict[str, Any]:
        """``DELETE _plugins/_notifications/configs/{config_id}``: ``{delete_response_list: {id: status}}``.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#delete-channel-configuration
        """
        return dict(
            self._call(
                "DELETE",
                f"{NOTIFICATIONS_CONFIGS}/{_quoted(config_id, 'channel id')}",
                f"deleting notification channel {config_id!r}",
                not_found=f"notification channel {config_id!r} does not exist",
            )
        )

    def send_test(self, config_id: str) -> dict[str, Any]:
        """``POST _plugins/_notifications/feature/test/{config_id}``: send a test message; the
        response's ``status_list[].delivery_status`` says whether the destination took it.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#send-test-notification
        """
        return dict(
            self._call(
                "POST",
                f"{NOTIFICATIONS}/feature/test/{_quoted(config_id, 'channel id')}",
                f"sending a test message to channel {config_id!r}",
                not_found=f"notification channel {config_id!r} does not exist",
            )
        )


def channel_issue(client: Any, channel_id: str, path: str = "channel") -> Issue | None:
    """Why ``channel_id`` cannot be used (notifications plugin absent, no such channel), or None."""
    installed = getattr(client, "installed_plugins", None)
    if installed is not None and NOTIFICATIONS_PLUGIN not in installed:
        return Issue(
            path,
            f"channel {channel_id!r} cannot be used: the notifications plugin ({NOTIFICATIONS_PLUGIN}) is not "
            "installed on the cluster",
            "install it, or remove 'channel' to create the monitor without actions",
        )
    try:
        with translate_errors(f"checking notification channel {channel_id!r}"):
            channel = quoted_id(channel_id, "channel", "name a notification channel by its id")
            client.transport.perform_request("GET", f"{NOTIFICATIONS_CONFIGS}/{channel}")
    except NotFound:
        return Issue(path, f"notification channel {channel_id!r} does not exist", "list channels in Notifications")
    return None


DetectorLookup = Callable[[str], "Detector | None"]


def ad_lookup(client: Any) -> DetectorLookup:
    """Find detectors by exact name through the AD plugin (``detectors/_search``, term on the name)."""
    return lambda name: client.ad.find(name)
