"""Plan and apply of monitor and channel files: validate and resolve everything, then write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hcad.alerting.builders import build_monitor, diff, is_ad_monitor
from hcad.alerting.client import Alerting, DetectorLookup, Notifications, ad_lookup
from hcad.alerting.spec import ChannelSpec, MonitorSpec, channel_diff
from hcad.errors import HcadError, Issue, NotFound, PluginMissing, ValidationError
from hcad.transport import AD_PLUGIN, ALERTING_PLUGIN, NOTIFICATIONS_PLUGIN

if TYPE_CHECKING:
    from hcad.ad.model import Detector


# ---------------------------------------------------------------------------------------------- plan/apply
@dataclass
class ChannelPlanItem:
    """What apply would do for one declared notification channel."""

    name: str
    type: str
    action: str  # create | update | unchanged
    channel_id: str
    config: dict[str, Any] = field(repr=False)  # holds the URL and headers (secrets)
    source: str | None = None
    changes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "action": self.action,
            "channel_id": self.channel_id,
            "changes": self.changes,
            "source": self.source,
        }


@dataclass
class PlanItem:
    """What apply would do for one monitor."""

    name: str
    action: str  # create | update | unchanged
    detector: str
    detector_id: str
    kind: str
    body: dict[str, Any]
    source: str | None = None
    monitor_id: str | None = None
    seq_no: int | None = None
    primary_term: int | None = None
    changes: list[str] = field(default_factory=list)
    ad_monitor: bool = False
    channel: str | None = None  # as written in the spec: a channel name or id
    channel_id: str | None = None  # the notifications config id the actions send to

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "detector": self.detector,
            "detector_id": self.detector_id,
            "kind": self.kind,
            "monitor_id": self.monitor_id,
            "changes": self.changes,
            "ad_monitor": self.ad_monitor,
            "channel": self.channel,
            "channel_id": self.channel_id,
            "source": self.source,
        }


@dataclass
class Plan:
    """The result of :func:`plan`: one item per monitor spec (file order) and per declared channel."""

    items: list[PlanItem]
    channels: list[ChannelPlanItem] = field(default_factory=list)

    @property
    def changes(self) -> int:
        """Channels and monitors that apply would create or update."""
        return sum(c.action != "unchanged" for c in self.channels) + sum(i.action != "unchanged" for i in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "channels": [c.to_dict() for c in self.channels],
            "monitors": [i.to_dict() for i in self.items],
        }


def _where(spec: MonitorSpec) -> str:
    return spec.source or spec.name


def _plan_channels(
    client: Any, declared: Sequence[ChannelSpec], specs: Sequence[MonitorSpec], issues: list[Issue]
) -> tuple[list[ChannelPlanItem], dict[str, str]]:
    """Match declared channels with the server's (by exact name) and resolve every monitor's channel
    (declared name, else a server channel's name, else its id). Appends problems to ``issues``;
    returns the channel plan and ``{monitor name: channel id}``."""
    notifications = Notifications(client, check_plugin=False)
    by_name: dict[str, list[dict[str, Any]]] = {}
    by_id: dict[str, dict[str, Any]] = {}

    def add(c: dict[str, Any]) -> None:
        if str(c.get("config_id")) not in by_id:
            by_name.setdefault(str((c.get("config") or {}).get("name")), []).append(c)
            by_id[str(c.get("config_id"))] = c

    def by_id_now(config_id: str) -> dict[str, Any] | None:
        # The listing is a search: a channel created a moment ago may be missing from it (seen on
        # 2.19.4.0 right after an apply); a GET by id sees it at once.
        if config_id not in by_id:
            try:
                add(notifications.get_config(config_id=config_id))
            except NotFound:
                return None
        return by_id.get(config_id)

    for c in notifications.list_configs():
        add(c)
    for ch in declared:
        if ch.name not in by_name:
            by_id_now(ch.config_id)
    allowed: list[str] | None = None
    if declared:
        allowed = list(notifications.features().get("allowed_config_type_list") or []) or None
    items: list[ChannelPlanItem] = []
    ids: dict[str, str] = {}
    bad: set[str] = set()
    for ch in declared:
        where = f"{ch.source}: channel {ch.name!r}"
        found = by_name.get(ch.name, [])
        if allowed is not None and ch.type not in allowed:
            issues.append(
                Issue(
                    f"{where}: type",
                    f"the cluster does not allow {ch.type} channels (allowed: {', '.join(allowed)})",
                    "add it to the setting opensearch.notifications.core.allowed_config_types or use another type",
                )
            )
            bad.add(ch.name)
            continue
        if len(found) > 1:
            issues.append(
                Issue(
                    where,
                    f"{len(found)} channels on the server have this name "
                    f"(ids {', '.join(sorted(str(f.get('config_id')) for f in found))})",
                    "delete or rename the extra ones so that the name names one channel",
                )
            )
            bad.add(ch.name)
            continue
        if found:
            stored = found[0]
            stored_type = (stored.get("config") or {}).get("config_type")
            if stored_type != ch.type:
                issues.append(
                    Issue(
                        f"{where}: type",
                        f"the channel exists on the server as a {stored_type} channel (id {stored.get('config_id')}) "
                        "and the notifications plugin cannot change a channel's type",
                        "delete it on the server or give this channel another name",
                    )
                )
                bad.add(ch.name)
                continue
            changes = channel_diff(ch, stored.get("config") or {})
            item = ChannelPlanItem(
                ch.name,
                ch.type,
                "update" if changes else "unchanged",
                str(stored.get("config_id")),
                ch.to_config(),
                ch.source,
                changes,
            )
        else:
            taken = by_id.get(ch.config_id)
            if taken is not None:
                other = (taken.get("config") or {}).get("name")
                issues.append(
                    Issue(
                        where,
                        f"the id hcad gives this channel ({ch.config_id}) belongs to the channel {other!r}",
                        f"rename that channel back to {ch.name!r} or delete it",
                    )
                )
                bad.add(ch.name)
                continue
            item = ChannelPlanItem(ch.name, ch.type, "create", ch.config_id, ch.to_config(), ch.source)
        items.append(item)
        ids[ch.name] = item.channel_id
    resolved: dict[str, str] = {}
    for s in specs:
        ref = s.channel
        if ref is None or ref in bad:
            continue  # no channel, or its declaration is already reported
        if ref in ids:
            resolved[s.name] = ids[ref]
            continue
        named = by_name.get(ref, [])
        if len(named) == 1:
            resolved[s.name] = str(named[0].get("config_id"))
        elif len(named) > 1:
            issues.append(
                Issue(
                    f"{_where(s)}: channel",
                    f"{len(named)} notification channels are named {ref!r} "
                    f"(ids {', '.join(sorted(str(n.get('config_id')) for n in named))})",
                    "give one of the ids instead, or rename the others",
                )
            )
        elif by_id_now(ref) is not None:
            resolved[s.name] = ref
        else:
            issues.append(
                Issue(
                    f"{_where(s)}: channel",
                    f"notification channel {ref!r} does not exist: no channels file declares it and no channel "
                    "on the server has that name or id",
                    "declare it under 'channels:' in a channels file, or give the name or id of an existing channel "
                    "listed by 'hcad monitors channels'",
                )
            )
    return items, resolved


def plan(
    client: Any,
    specs: Sequence[MonitorSpec],
    *,
    lookup: DetectorLookup | None = None,
    channels: Sequence[ChannelSpec] | None = None,
) -> Plan:
    """Check every spec against the server and work out what apply would do; writes nothing.

    ``channels``: the declared notification channels (default: ``specs.channels`` when ``specs``
    comes from :func:`load_specs`). Each is matched with the server's channel of the same name
    (create, update or unchanged); a monitor's ``channel`` is a declared channel's name, else the
    name of a channel on the server, else a channel id.

    Order: the notifications plugin is checked first (it needs only the plugin list), then the
    alerting and AD plugins are required, then channels and detectors are resolved; all issues are
    raised together as one :class:`ValidationError`.
    """
    declared = list(channels if channels is not None else getattr(specs, "channels", ()))
    issues: list[Issue] = []
    refs = [s for s in specs if s.channel]
    installed = getattr(client, "installed_plugins", None)
    no_notifications = installed is not None and NOTIFICATIONS_PLUGIN not in installed
    if no_notifications:
        missing_note = f"the notifications plugin ({NOTIFICATIONS_PLUGIN}) is not installed on the cluster"
        for s in refs:
            issues.append(
                Issue(
                    f"{_where(s)}: channel",
                    f"channel {s.channel!r} cannot be used: {missing_note}",
                    "install it, or remove 'channel' to create the monitor without actions",
                )
            )
        for ch in declared:
            issues.append(
                Issue(
                    f"{ch.source}: channel {ch.name!r}",
                    f"cannot be created: {missing_note}",
                    "install it, or remove the channels file",
                )
            )
    missing = _missing_plugins(client, lookup)
    if issues and missing:
        raise ValidationError(issues)  # the input is wrong whatever else is missing
    if missing:
        raise missing[0]
    channel_items: list[ChannelPlanItem] = []
    channel_ids: dict[str, str] = {}
    if (refs or declared) and not no_notifications:
        channel_items, channel_ids = _plan_channels(client, declared, specs, issues)
    alerting = Alerting(client, check_plugin=False)
    find = lookup or ad_lookup(client)
    resolved: dict[str, Detector | None] = {}
    for s in specs:
        if s.detector not in resolved:
            resolved[s.detector] = find(s.detector)
        if resolved[s.detector] is None:
            issues.append(
                Issue(
                    f"{_where(s)}: detector",
                    f"no detector is named {s.detector!r}",
                    "create it first (hcad detectors apply) or fix the name",
                )
            )
    if issues:
        raise ValidationError(issues)
    items = []
    for s in specs:
        det = resolved[s.detector]
        assert det is not None and det.id is not None
        channel_id = channel_ids.get(s.name)
        body = build_monitor(det, s, channel_id=channel_id)
        existing = alerting.find(s.name)
        item = PlanItem(
            name=s.name,
            action="create",
            detector=det.name,
            detector_id=det.id,
            kind=s.kind,
            body=body,
            source=s.source,
            ad_monitor=is_ad_monitor(body),
            channel=s.channel,
            channel_id=channel_id,
        )
        if existing is not None:
            item.monitor_id = existing["id"]
            item.seq_no = existing.get("seq_no")
            item.primary_term = existing.get("primary_term")
            item.changes = diff(body, existing["monitor"])
            item.action = "update" if item.changes else "unchanged"
        items.append(item)
    return Plan(items, channel_items)


def _missing_plugins(client: Any, lookup: DetectorLookup | None) -> list[HcadError]:
    installed = getattr(client, "installed_plugins", None)
    if installed is None:
        return []
    needed = [ALERTING_PLUGIN] + ([] if lookup is not None else [AD_PLUGIN])
    url = getattr(getattr(client, "settings", None), "url", "the cluster")
    return [PluginMissing(p, url, installed) for p in needed if p not in installed]


def apply(client: Any, the_plan: Plan) -> list[dict[str, Any]]:
    """Create or update the channels, then the monitors, of a (valid) plan; unchanged ones are left
    alone. Returns one ``{name, action, monitor_id}`` per monitor (channels: ``the_plan.channels``).

    A channel hcad creates gets the id the plan chose (:attr:`ChannelSpec.config_id`), so the monitors
    built in the plan already point at it.
    """
    if any(c.action != "unchanged" for c in the_plan.channels):
        notifications = Notifications(client, check_plugin=False)
        for ch in the_plan.channels:
            if ch.action == "create":
                ch.channel_id = notifications.create_config(config=ch.config, config_id=ch.channel_id)
            elif ch.action == "update":
                notifications.update_config(config_id=ch.channel_id, config=ch.config)
    alerting = Alerting(client, check_plugin=False)
    out = []
    for item in the_plan.items:
        if item.action == "create":
            resp = alerting.create(item.body)
            item.monitor_id = resp.get("_id")
        elif item.action == "update":
            assert item.monitor_id is not None
            alerting.update(item.monitor_id, item.body, if_seq_no=item.seq_no, if_primary_term=item.primary_term)
        out.append({"name": item.name, "action": item.action, "monitor_id": item.monitor_id})
    return out
