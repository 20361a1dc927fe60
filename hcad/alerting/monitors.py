"""Alerting monitors wired to anomaly detectors: build, validate, plan/apply, run.

Two kinds of monitor are built from a detector (both query-level monitors on its results):

``dashboards``
    Exactly what OpenSearch Dashboards builds for a detector: query ``size: 1`` sorted by grade then
    confidence over the last 2 detector intervals of ``execution_end_time``, a ``max_anomaly_grade``
    aggregation and one trigger "max grade > G and top hit confidence > C". On the default result
    indices its input is exactly ``[".opendistro-anomaly-results*"]``, so alerting treats it as an AD
    monitor (``isADMonitor``) and reads the system index on the user's behalf.

``entities`` (the default)
    Names the anomalous entities in the alert. The extraction query keeps results with grade >= the
    P2 threshold and confidence >= the minimum, collapses them per ``model_id`` (one hit per entity,
    its highest grade, because ``collapse`` keeps the top hit of the sort) and returns the top N
    (default 10). A terms/bucket-level design over ``entity.value`` is awkward because ``entity`` is
    a nested field in the results mapping; a collapsed hit list keeps each entity's whole result
    document (entity, grade, confidence, feature values, expected values) for the message template,
    which iterates ``ctx.results.0.hits.hits``. Two triggers give the seed deployment's tiers:

    * P1 (severity 1): max confident grade >= ``high`` (default 0.7, Dashboards' default grade
      threshold, so P1 pages exactly when the familiar monitor would);
    * P2 (severity 2): ``low`` <= max grade < ``high`` (default ``low`` 0.35: the seed's P2/P1 ratio
      of 1.5/3.0 applied to 0.7 — the seed's 3.0/1.5 are on an unbounded score scale, the AD grade is
      in [0, 1]).

    Only one tier fires per run (the highest reached), and its message lists the top entities.

Both kinds run every 2 detector intervals (as Dashboards) unless ``interval`` is given. Real-time
monitors (``results: realtime``) select results by ``execution_end_time`` and skip historical-analysis
results (those carry a ``task_id``), so running a historical analysis does not page anyone.
``results: historical`` selects by ``data_end_time`` and only historical results, for replaying a
historical run with ``_execute`` and ``period_end``. The real-time ``entities`` window is the monitor
interval ending ``RESULT_LAG_MINUTES`` (1) before the run: windows still tile time (each result is
seen once), and a result indexed up to a minute after its ``execution_end_time`` is not missed (the
``dashboards`` kind keeps Dashboards' window, which ends at the run and can miss such a result).

Monitors as code: one YAML mapping per file (see ``monitors/README.md``), and channels files (a
top-level ``channels:`` list of :class:`ChannelSpec`: webhook, Slack, Chime, SNS) that monitors name
in ``channel``. :func:`plan` validates every file and resolves every detector and channel (declared
name, else a server channel's name, else its id) before anything is written; :func:`apply` writes
only when the whole plan is valid, channels first, and a second apply changes nothing (a fingerprint
of the built monitor is kept in ``ui_metadata.hcad``; channels are compared field by field).
:class:`Notifications` is the notifications plugin's API, one method per endpoint.

Facts are from the alerting plugin and common-utils at 2.19.4.0 (``Monitor``, ``QueryLevelTrigger``,
``Action``, ``InputService``, ``isADMonitor``, ``RestExecuteMonitorAction``), verified against a node
running alerting and anomaly-detection 2.19.4.0 (tests/integration/test_monitors_live.py). Alerting
returns a monitor's ``ui_metadata`` only to Dashboards (``RestHandlerUtils.context``: a User-Agent
containing "OpenSearch-Dashboards"), so hcad reads monitors with such a User-Agent.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hcad.connection import AD_PLUGIN, ALERTING_PLUGIN, translate_errors
from hcad.errors import ConfigError, HcadError, Issue, NotFound, PluginMissing, ValidationError

if TYPE_CHECKING:
    from hcad.ad.model import Detector

MONITORS = "/_plugins/_alerting/monitors"
NOTIFICATIONS_CONFIGS = "/_plugins/_notifications/configs"
NOTIFICATIONS_PLUGIN = "opensearch-notifications"
AD_RESULT_INDEX = ".opendistro-anomaly-results*"
# The alerting plugin leaves ``ui_metadata`` out of GET and _search responses unless the User-Agent
# contains "OpenSearch-Dashboards" (``RestHandlerUtils.context``, 2.19.4.0). hcad keeps its spec,
# fingerprint and message there, so it reads monitors the way Dashboards does.
UI_METADATA_USER_AGENT = "hcad (reads ui_metadata like OpenSearch-Dashboards)"

KINDS = ("entities", "dashboards")
RESULT_MODES = ("realtime", "historical")
DEFAULT_HIGH = 0.7
DEFAULT_LOW = 0.35
DEFAULT_CONFIDENCE = 0.7
DEFAULT_TOP = 10
MAX_TOP = 100
P1_SEVERITY = "1"
P2_SEVERITY = "2"
# Real-time windows end this many minutes before the run: the AD plugin indexes a result a moment after
# its execution_end_time, so a window ending at period_end misses results executed just before the run
# and indexed just after its search (seen on 2.19.4.0 with a monitor in phase with its detector).
RESULT_LAG_MINUTES = 1
PREVIEW_DESTINATION = "hcad-dry-run"  # used only inside _execute?dryrun=true, where nothing is sent
_NAME_RE = re.compile(r"^[^\n\r]{1,200}$")
SPEC_KEYS = frozenset(
    {
        "name",
        "detector",
        "kind",
        "enabled",
        "top",
        "thresholds",
        "interval",
        "results",
        "channel",
        "throttle",
        "subject",
    }
)
THRESHOLD_KEYS = frozenset({"high", "low", "confidence"})
# Keys the server adds or rewrites on a stored monitor; left out when comparing with a built one.
_SERVER_KEYS = ("last_update_time", "enabled_time", "schema_version", "user", "data_sources", "owner", "type")

NOTIFICATIONS = "/_plugins/_notifications"
NOTIFICATIONS_DOCS = "https://opensearch.org/docs/2.19/observing-your-data/notifications/api/"
CHANNEL_TYPES = ("webhook", "slack", "chime", "sns")
WEBHOOK_METHODS = ("POST", "PUT", "PATCH")  # the only methods the plugin's webhook accepts
CHANNEL_COMMON_KEYS = frozenset({"name", "type", "description", "enabled"})
CHANNEL_TYPE_KEYS: dict[str, frozenset[str]] = {
    "webhook": frozenset({"url", "method", "headers"}),
    "slack": frozenset({"url"}),
    "chime": frozenset({"url"}),
    "sns": frozenset({"topic_arn", "role_arn"}),
}
# The ARN formats the plugin checks (common-utils 2.19.4.0: ``Sns.SNS_ARN_REGEX``, ``validateIamRoleArn``).
SNS_TOPIC_ARN_RE = re.compile(r"^arn:aws(-[^:]+)?:sns:([a-zA-Z0-9-]+):([0-9]{12}):([a-zA-Z_0-9+=,.@\-_/]+)$")
IAM_ROLE_ARN_RE = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12}):([a-zA-Z_0-9+=,.@\-_/]+)$")
# Config ids the plugin accepts on create (common-utils ``validateId``: base64 characters and ``_-``).
_CONFIG_ID_CHARS = re.compile(r"[^A-Za-z0-9+/_-]")
CHANNELS_KEY = "channels"


# ---------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class MonitorSpec:
    """One monitor as code: which detector, what kind, thresholds, schedule and channel."""

    name: str
    detector: str
    kind: str = "entities"
    enabled: bool = True
    top: int = DEFAULT_TOP
    high: float = DEFAULT_HIGH
    low: float = DEFAULT_LOW
    confidence: float = DEFAULT_CONFIDENCE
    interval_minutes: int | None = None
    results: str = "realtime"
    channel: str | None = None
    throttle_minutes: int | None = None
    subject: str | None = None
    source: str | None = None

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> MonitorSpec:
        """Read and check a spec mapping; raises :class:`ValidationError` naming every bad field."""
        issues: list[Issue] = []
        if not isinstance(data, Mapping):
            raise ValidationError([Issue("", "expected a mapping of monitor fields", "see monitors/README.md")], source)
        for key in sorted(set(data) - SPEC_KEYS):
            issues.append(Issue(str(key), "unknown field", f"use one of {', '.join(sorted(SPEC_KEYS))}"))

        def text(key: str, required: bool = False) -> str | None:
            v = data.get(key)
            if v is None:
                if required:
                    issues.append(Issue(key, "is required", f"add '{key}: ...'"))
                return None
            if not isinstance(v, str) or not v.strip():
                issues.append(Issue(key, f"{v!r} is not a non-empty string", ""))
                return None
            return v.strip()

        def whole(key: str, value: Any, lo: int, hi: int | None, fix: str) -> int | None:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
                rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                issues.append(Issue(key, f"{value!r} is not a whole number in {rng}", fix))
                return None
            return value

        name = text("name", required=True)
        if name is not None and not _NAME_RE.match(name):
            issues.append(Issue("name", "must be one line of at most 200 characters", ""))
        detector = text("detector", required=True)
        kind = text("kind") or "entities"
        if kind not in KINDS:
            issues.append(Issue("kind", f"{kind!r} is not a monitor kind", f"use one of {', '.join(KINDS)}"))
        results = text("results") or "realtime"
        if results not in RESULT_MODES:
            issues.append(Issue("results", f"{results!r} is not valid", f"use one of {', '.join(RESULT_MODES)}"))
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            issues.append(Issue("enabled", f"{enabled!r} is not true/false", ""))
            enabled = True
        top = whole("top", data.get("top"), 1, MAX_TOP, f"list between 1 and {MAX_TOP} entities")
        interval = data.get("interval")
        interval_minutes = None
        if interval is not None:
            interval_minutes = _minutes(interval, "interval", issues)
        throttle = data.get("throttle")
        throttle_minutes = _minutes(throttle, "throttle", issues) if throttle is not None else None
        channel = text("channel")
        if throttle_minutes is not None and channel is None:
            issues.append(Issue("throttle", "needs a channel", "add 'channel: <channel name or id>'"))
        subject = text("subject")

        thresholds = data.get("thresholds") or {}
        high, low, conf = DEFAULT_HIGH, DEFAULT_LOW, DEFAULT_CONFIDENCE
        if not isinstance(thresholds, Mapping):
            issues.append(Issue("thresholds", "expected a mapping with high, low, confidence", ""))
        else:
            for key in sorted(set(thresholds) - THRESHOLD_KEYS):
                issues.append(Issue(f"thresholds.{key}", "unknown threshold", "use high, low or confidence"))
            high = _unit(thresholds.get("high", DEFAULT_HIGH), "thresholds.high", issues)
            low = _unit(thresholds.get("low", DEFAULT_LOW), "thresholds.low", issues)
            conf = _unit(thresholds.get("confidence", DEFAULT_CONFIDENCE), "thresholds.confidence", issues)
            if kind == "entities" and 0 <= low <= 1 and 0 <= high <= 1 and low >= high:
                issues.append(
                    Issue("thresholds.low", f"low ({low}) must be below high ({high})", "P2 is low <= grade < high")
                )
        if issues:
            raise ValidationError(issues, source)
        assert name is not None and detector is not None
        return cls(
            name=name,
            detector=detector,
            kind=kind,
            enabled=bool(enabled),
            top=top or DEFAULT_TOP,
            high=high,
            low=low,
            confidence=conf,
            interval_minutes=interval_minutes,
            results=results,
            channel=channel,
            throttle_minutes=throttle_minutes,
            subject=subject,
            source=source,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> MonitorSpec:
        """Read a spec from a YAML (or JSON) file."""
        from hcad.yamlfile import load_yaml_file

        return cls.from_dict(load_yaml_file(path, "monitor file"), str(path))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (the form kept in ``ui_metadata.hcad.spec``)."""
        out: dict[str, Any] = {
            "name": self.name,
            "detector": self.detector,
            "kind": self.kind,
            "enabled": self.enabled,
            "results": self.results,
            "thresholds": {"high": self.high, "confidence": self.confidence},
        }
        if self.kind == "entities":
            out["top"] = self.top
            out["thresholds"]["low"] = self.low
        for key, value in (
            ("interval", self.interval_minutes),
            ("channel", self.channel),
            ("throttle", self.throttle_minutes),
            ("subject", self.subject),
        ):
            if value is not None:
                out[key] = value
        return out


def _unit(value: Any, path: str, issues: list[Issue]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 1:
        issues.append(Issue(path, f"{value!r} is not a number in [0, 1]", "AD grades and confidences are in [0, 1]"))
        return -1.0
    return float(value)


def _minutes(value: Any, path: str, issues: list[Issue]) -> int | None:
    """``20``, ``"20m"`` or ``"1h"`` → whole minutes (alerting schedules are in minutes here)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*(m|min|minutes?|h|hours?)?\s*", value, re.I)
        if m and int(m.group(1)) > 0:
            n = int(m.group(1))
            return n * 60 if (m.group(2) or "m").lower().startswith("h") else n
    issues.append(Issue(path, f"{value!r} is not a positive number of minutes", 'write e.g. "20m" or "1h"'))
    return None


@dataclass(frozen=True)
class ChannelSpec:
    """One notification channel as code (an entry of a channels file's ``channels:`` list).

    ``type`` is ``webhook`` (``url``, ``method``, ``headers``), ``slack`` or ``chime`` (an https
    ``url``) or ``sns`` (``topic_arn``, optional ``role_arn``). Monitors refer to it by ``name``; on
    the server it is a notifications config with that name (``config_type`` = ``type``).
    """

    name: str
    type: str
    description: str = ""
    enabled: bool = True
    url: str | None = None
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    topic_arn: str | None = None
    role_arn: str | None = None
    source: str | None = None

    @classmethod
    def from_dict(cls, data: Any, path: str = "", source: str | None = None) -> ChannelSpec:
        """Read and check one channel mapping; issues are named ``{path}.{field}``.

        Raises :class:`ValidationError` naming every bad field (required fields, URL schemes: https
        for Slack and Chime, http(s) for webhooks; the SNS topic and IAM role ARN formats the plugin
        accepts; webhook methods POST, PUT, PATCH).
        """
        issues: list[Issue] = []
        at = f"{path}." if path else ""
        if not isinstance(data, Mapping):
            raise ValidationError(
                [Issue(path, "expected a mapping with name, type and the type's fields", "see monitors/README.md")],
                source,
            )

        def text(key: str, required: bool = False) -> str | None:
            v = data.get(key)
            if v is None:
                if required:
                    issues.append(Issue(f"{at}{key}", "is required", f"add '{key}: ...'"))
                return None
            if not isinstance(v, str) or not v.strip():
                issues.append(Issue(f"{at}{key}", f"{v!r} is not a non-empty string", ""))
                return None
            return v.strip()

        name = text("name", required=True)
        if name is not None and not _NAME_RE.match(name):
            issues.append(Issue(f"{at}name", "must be one line of at most 200 characters", ""))
        kind = text("type", required=True)
        if kind is not None and kind.lower() not in CHANNEL_TYPES:
            issues.append(
                Issue(f"{at}type", f"{kind!r} is not a channel type", f"use one of {', '.join(CHANNEL_TYPES)}")
            )
            kind = None
        kind = kind.lower() if kind else None
        allowed = CHANNEL_COMMON_KEYS | (
            CHANNEL_TYPE_KEYS[kind] if kind else frozenset().union(*CHANNEL_TYPE_KEYS.values())
        )
        for key in sorted(set(map(str, data)) - allowed):
            what = f"a {kind} channel" if kind else "a channel"
            issues.append(Issue(f"{at}{key}", f"unknown field for {what}", f"use {', '.join(sorted(allowed))}"))
        description = data.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            issues.append(Issue(f"{at}description", f"{description!r} is not a string", ""))
            description = ""
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            issues.append(Issue(f"{at}enabled", f"{enabled!r} is not true/false", ""))
            enabled = True
        url = method = None
        headers: list[tuple[str, str]] = []
        topic_arn = role_arn = None
        if kind in ("webhook", "slack", "chime"):
            url = text("url", required=True)
            if url is not None:
                problem = _url_problem(url, https_only=kind != "webhook")
                if problem:
                    example = {"slack": "https://hooks.slack.com/services/...", "chime": "https://hooks.chime.aws/..."}
                    issues.append(Issue(f"{at}url", problem, f"write e.g. {example.get(kind, 'https://host/path')}"))
        if kind == "webhook":
            method = (text("method") or "POST").upper()
            if method not in WEBHOOK_METHODS:
                issues.append(Issue(f"{at}method", f"{method!r} is not accepted", f"use {', '.join(WEBHOOK_METHODS)}"))
            raw = data.get("headers") or {}
            if not isinstance(raw, Mapping):
                issues.append(Issue(f"{at}headers", "expected a mapping of header name to value", ""))
            else:
                for k, v in raw.items():
                    if (
                        not isinstance(k, str)
                        or not k.strip()
                        or isinstance(v, bool)
                        or not isinstance(v, (str, int, float))
                    ):
                        issues.append(
                            Issue(f"{at}headers.{k}", f"{v!r} is not a header value", "give a string (quote it)")
                        )
                    else:
                        headers.append((k.strip(), str(v)))
        if kind == "sns":
            topic_arn = text("topic_arn", required=True)
            if topic_arn is not None and not SNS_TOPIC_ARN_RE.match(topic_arn):
                issues.append(
                    Issue(
                        f"{at}topic_arn",
                        f"{topic_arn!r} is not an SNS topic ARN",
                        "write arn:aws:sns:<region>:<12-digit account>:<topic>",
                    )
                )
            role_arn = text("role_arn")
            if role_arn is not None and not IAM_ROLE_ARN_RE.match(role_arn):
                issues.append(
                    Issue(
                        f"{at}role_arn",
                        f"{role_arn!r} is not an IAM role ARN",
                        "write arn:aws:iam::<12-digit account>:role/<name>",
                    )
                )
        if issues:
            raise ValidationError(issues, source)
        assert name is not None and kind is not None
        return cls(
            name=name,
            type=kind,
            description=description,
            enabled=enabled,
            url=url,
            method=method or "POST",
            headers=tuple(headers),
            topic_arn=topic_arn,
            role_arn=role_arn,
            source=source,
        )

    def to_config(self) -> dict[str, Any]:
        """The notifications plugin's ``config`` object for this channel (create and update body)."""
        data: dict[str, Any]
        if self.type == "webhook":
            data = {"url": self.url, "header_params": dict(self.headers), "method": self.method}
        elif self.type == "sns":
            data = {"topic_arn": self.topic_arn}
            if self.role_arn:
                data["role_arn"] = self.role_arn
        else:
            data = {"url": self.url}
        return {
            "name": self.name,
            "description": self.description,
            "config_type": self.type,
            "is_enabled": self.enabled,
            self.type: data,
        }

    @property
    def config_id(self) -> str:
        """The id hcad gives the channel when it creates it: readable and stable for a name (a channel
        deleted on the server comes back with the same id, so monitors keep pointing at it)."""
        slug = _CONFIG_ID_CHARS.sub("-", self.name.lower()).strip("-")[:40] or "channel"
        return f"hcad-{slug}-{hashlib.sha256(self.name.encode()).hexdigest()[:8]}"


def _url_problem(url: str, *, https_only: bool) -> str | None:
    """Why ``url`` cannot be a channel URL, or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return f"{url!r} is not a valid URL"
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme.lower() not in schemes:
        need = "https" if https_only else "http or https"
        return f"{url!r} must use {need}" + (f", not {parts.scheme}" if parts.scheme else "")
    if not parts.hostname or any(c.isspace() for c in url):
        return f"{url!r} is not a valid URL (no host, or spaces)"
    return None


def channel_diff(spec: ChannelSpec, stored: Mapping[str, Any]) -> list[str]:
    """Which fields of a stored notifications ``config`` differ from ``spec`` ([] when none)."""
    want = spec.to_config()
    have = dict(stored)
    changes = []
    # (field in the config, name in the spec, the plugin's default when the server leaves it out)
    top: tuple[tuple[str, str, Any], ...] = (
        ("description", "description", ""),
        ("is_enabled", "enabled", True),
        ("config_type", "type", None),
    )
    for key, label, default in top:
        if want.get(key, default) != have.get(key, default):
            changes.append(label)
    a, b = want.get(spec.type) or {}, have.get(spec.type) or {}
    inner: tuple[tuple[str, str, Any], ...] = (
        ("url", "url", None),
        ("method", "method", "POST"),
        ("header_params", "headers", {}),
        ("topic_arn", "topic_arn", None),
        ("role_arn", "role_arn", None),
    )
    for key, label, default in inner:
        if (key in a or key in b) and a.get(key, default) != b.get(key, default):
            changes.append(label)
    return changes


class Specs(list[MonitorSpec]):
    """The monitors read by :func:`load_specs`, with the channels declared in the same files
    (``channels``); :func:`plan` uses both."""

    def __init__(self, monitors: Iterable[MonitorSpec] = (), channels: Iterable[ChannelSpec] = ()) -> None:
        super().__init__(monitors)
        self.channels: list[ChannelSpec] = list(channels)


def _load_channels(data: Mapping[str, Any], source: str) -> list[ChannelSpec]:
    extra = sorted(str(k) for k in data if k != CHANNELS_KEY)
    issues: list[Issue] = []
    if extra:
        issues.append(
            Issue(
                extra[0] if len(extra) == 1 else ", ".join(extra),
                "a channels file holds only 'channels:'",
                "put monitors and channels in separate files; a monitor refers to a channel with 'channel: <name>'",
            )
        )
    items = data.get(CHANNELS_KEY)
    if not isinstance(items, list) or not items:
        issues.append(Issue(CHANNELS_KEY, "expected a non-empty list of channels", "see monitors/README.md"))
        raise ValidationError(issues, source)
    out = []
    for i, item in enumerate(items):
        try:
            out.append(ChannelSpec.from_dict(item, f"{CHANNELS_KEY}[{i}]", source))
        except ValidationError as e:
            issues += e.issues
    if issues:
        raise ValidationError(issues, source)
    return out


def load_specs(paths: Iterable[str | Path]) -> Specs:
    """Read every ``*.yaml``/``*.yml``/``*.json`` file (directories are expanded), checking all of them.

    A file is a monitor (one mapping of monitor fields) or a channels file (a mapping with only a
    ``channels:`` list, see :class:`ChannelSpec`). Returns the monitors (a list) with the declared
    channels in ``.channels``. Raises one :class:`ValidationError` with the issues of every bad file
    (paths prefixed with the file name), for duplicate monitor or channel names, and for a monitor file
    that also declares channels.
    """
    from hcad.yamlfile import load_yaml_file

    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json"))
        elif p.exists():
            files.append(p)
        else:
            raise ConfigError(f"{p}: no such file or directory; give monitor YAML files or a folder of them")
    if not files:
        raise ConfigError("no monitor files found; give monitor YAML files or a folder such as monitors/")
    specs: list[MonitorSpec] = []
    channels: list[ChannelSpec] = []
    issues: list[Issue] = []
    for f in files:
        try:
            data = load_yaml_file(f, "monitor file")
            if isinstance(data, Mapping) and CHANNELS_KEY in data and not ({"name", "detector"} & set(data)):
                channels += _load_channels(data, str(f))
            elif isinstance(data, Mapping) and CHANNELS_KEY in data:
                raise ValidationError(
                    [
                        Issue(
                            CHANNELS_KEY,
                            "a monitor file cannot declare channels",
                            "put them in a file of their own (a top-level 'channels:' list) and give the monitor "
                            "'channel: <name>'",
                        )
                    ],
                    str(f),
                )
            else:
                specs.append(MonitorSpec.from_dict(data, str(f)))
        except ValidationError as e:
            issues += [Issue(f"{f}: {i.path}" if i.path else str(f), i.message, i.fix) for i in e.issues]
    seen: dict[str, str] = {}
    for s in specs:
        if s.name in seen:
            issues.append(Issue(f"{s.source}: name", f"{s.name!r} is also used by {seen[s.name]}", "names are unique"))
        seen.setdefault(s.name, str(s.source))
    seen_channels: dict[str, str] = {}
    for c in channels:
        if c.name in seen_channels:
            issues.append(
                Issue(
                    f"{c.source}: channels",
                    f"channel {c.name!r} is also declared in {seen_channels[c.name]}",
                    "channel names are unique",
                )
            )
        seen_channels.setdefault(c.name, str(c.source))
    if issues:
        raise ValidationError(issues)
    return Specs(specs, channels)


# ---------------------------------------------------------------------------------------------- builders
def monitor_interval_minutes(detector: Detector, spec: MonitorSpec | None = None) -> int:
    """The monitor's schedule: the spec's interval, else 2 x the detector interval (as Dashboards)."""
    if spec is not None and spec.interval_minutes:
        return spec.interval_minutes
    if detector.interval is None:
        raise ConfigError(f"detector {detector.name!r} has no detection interval; give the monitor an 'interval'")
    return max(1, math.ceil(2 * detector.interval.minutes))


def result_indices(detector: Detector) -> list[str]:
    """Where the detector's results are: the default pattern, or its custom result index (alias + rollovers)."""
    return [f"{detector.result_index}*"] if detector.result_index else [AD_RESULT_INDEX]


def _window(minutes: int, field_name: str, lag: int = 0) -> dict[str, Any]:
    """``field_name`` in the ``minutes`` before ``period_end``, shifted back by ``lag`` minutes."""
    return {
        "range": {
            field_name: {
                "from": f"{{{{period_end}}}}||-{minutes + lag}m",
                "to": f"{{{{period_end}}}}||-{lag}m" if lag else "{{period_end}}",
                "include_lower": True,
                "include_upper": True,
                "format": "epoch_millis",
            }
        }
    }


def _num(x: float) -> str:
    """A threshold as painless source text (``0.7``, ``1.0``)."""
    return repr(float(x))


def dashboards_condition(grade: float, confidence: float) -> str:
    """The trigger script Dashboards writes for an AD monitor."""
    return (
        "return ctx.results != null && ctx.results.length > 0 && ctx.results[0].aggregations != null"
        " && ctx.results[0].aggregations.max_anomaly_grade != null && ctx.results[0].hits.total.value > 0"
        " && ctx.results[0].hits.hits[0]._source != null && ctx.results[0].hits.hits[0]._source.confidence != null"
        " && ctx.results[0].aggregations.max_anomaly_grade.value != null"
        f" && ctx.results[0].aggregations.max_anomaly_grade.value > {_num(grade)}"
        f" && ctx.results[0].hits.hits[0]._source.confidence > {_num(confidence)}"
    )


_MAX = "ctx.results[0].aggregations.max_anomaly_grade.value"
_HAS_MAX = (
    "ctx.results != null && ctx.results.length > 0 && ctx.results[0].aggregations != null"
    f" && ctx.results[0].aggregations.max_anomaly_grade != null && {_MAX} != null"
)


def tier_condition(low: float, high: float | None) -> str:
    """Trigger script: max confident grade in ``[low, high)`` (``high=None``: no upper bound)."""
    upper = f" && {_MAX} < {_num(high)}" if high is not None else ""
    return f"return {_HAS_MAX} && {_MAX} >= {_num(low)}{upper}"


def entities_message(detector: Detector, spec: MonitorSpec) -> str:
    """Mustache message listing the top entities with grade, confidence, actual and expected values.

    Feature values are addressed by position: the plugin writes ``feature_data`` and
    ``expected_values[0].value_list`` in the detector's enabled-feature order.
    """
    features = [f.name for f in detector.features if f.enabled]
    per_feature = "".join(
        f"\n    {name}: {{{{_source.feature_data.{i}.data}}}}"
        f" (expected {{{{_source.expected_values.0.value_list.{i}.data}}}})"
        for i, name in enumerate(features)
    )
    fields = ", ".join(detector.category_fields or []) or "entity"
    return (
        "{{ctx.monitor.name}}: {{ctx.trigger.name}} (severity {{ctx.trigger.severity}})\n"
        f"Detector: {detector.name} ({detector.id})\n"
        "Period: {{ctx.periodStart}} to {{ctx.periodEnd}}\n"
        "Max anomaly grade: {{ctx.results.0.aggregations.max_anomaly_grade.value}} over "
        "{{ctx.results.0.aggregations.entity_count.value}} anomalous entities "
        f"(grade >= {spec.low}, confidence >= {spec.confidence}); top {spec.top} by grade ({fields}):\n"
        "{{#ctx.results.0.hits.hits}}"
        "- {{#_source.entity}}{{name}}={{value}} {{/_source.entity}}"
        "grade {{_source.anomaly_grade}} confidence {{_source.confidence}} "
        "data_end_time {{_source.data_end_time}}"
        f"{per_feature}\n"
        "{{/ctx.results.0.hits.hits}}"
    )


def dashboards_message(detector: Detector) -> str:
    """The message Dashboards suggests, plus the detector and the top entity."""
    return (
        "Attention Monitor {{ctx.monitor.name}} just entered alert status. Please investigate the issue.\n"
        "- Trigger: {{ctx.trigger.name}}\n"
        "- Severity: {{ctx.trigger.severity}}\n"
        "- Period start: {{ctx.periodStart}}\n"
        "- Period end: {{ctx.periodEnd}}\n"
        f"- Detector: {detector.name} ({detector.id})\n"
        "- Entity: {{#ctx.results.0.hits.hits.0._source.entity}}{{name}}={{value}} "
        "{{/ctx.results.0.hits.hits.0._source.entity}}\n"
        "- Max anomaly grade: {{ctx.results.0.aggregations.max_anomaly_grade.value}}"
    )


def _action(spec: MonitorSpec, trigger: str, message: str, channel_id: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": f"{trigger}-notify",
        "destination_id": channel_id or spec.channel,
        "subject_template": {
            "source": spec.subject or "{{ctx.monitor.name}}: {{ctx.trigger.name}}",
            "lang": "mustache",
        },
        "message_template": {"source": message, "lang": "mustache"},
        "throttle_enabled": spec.throttle_minutes is not None,
    }
    if spec.throttle_minutes is not None:
        action["throttle"] = {"value": spec.throttle_minutes, "unit": "MINUTES"}
    return action


def _trigger(name: str, severity: str, condition: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "query_level_trigger": {
            "name": name,
            "severity": severity,
            "condition": {"script": {"source": condition, "lang": "painless"}},
            "actions": actions,
        }
    }


def entities_query(detector: Detector, spec: MonitorSpec, lookback_minutes: int) -> dict[str, Any]:
    """The extraction query: the top N entities of the period by max confident grade, one hit each."""
    assert detector.id is not None
    grade: dict[str, Any] = {"gte": spec.low} if spec.low > 0 else {"gt": 0}
    filters: list[dict[str, Any]] = [
        {"term": {"detector_id": detector.id}},
        {"range": {"anomaly_grade": grade}},
        {"range": {"confidence": {"gte": spec.confidence}}},
    ]
    query: dict[str, Any] = {"bool": {"filter": filters}}
    if spec.results == "realtime":
        filters.insert(1, _window(lookback_minutes, "execution_end_time", RESULT_LAG_MINUTES))
        query["bool"]["must_not"] = [{"exists": {"field": "task_id"}}]
    else:
        filters.insert(1, _window(lookback_minutes, "data_end_time"))
        filters.append({"exists": {"field": "task_id"}})
    return {
        "size": spec.top,
        "query": query,
        "sort": [{"anomaly_grade": {"order": "desc"}}, {"confidence": {"order": "desc"}}],
        "collapse": {"field": "model_id"},
        "_source": {
            "includes": [
                "detector_id",
                "model_id",
                "entity",
                "anomaly_grade",
                "confidence",
                "data_start_time",
                "data_end_time",
                "feature_data",
                "expected_values",
                "task_id",
            ]
        },
        "aggregations": {
            "max_anomaly_grade": {"max": {"field": "anomaly_grade"}},
            "entity_count": {"cardinality": {"field": "model_id"}},
        },
    }


def build_monitor(detector: Detector, spec: MonitorSpec, *, channel_id: str | None = None) -> dict[str, Any]:
    """The alerting monitor (request body) for ``spec`` on ``detector`` (which must have an id).

    ``channel_id``: the notifications config id the actions send to, when ``spec.channel`` is a
    channel name that :func:`plan` resolved (default: ``spec.channel`` itself, taken as an id).
    """
    if not detector.id:
        raise ConfigError(f"detector {detector.name!r} has no id; create it before its monitors")
    minutes = monitor_interval_minutes(detector, spec)
    if spec.kind == "dashboards":
        query: dict[str, Any] = {
            "size": 1,
            "sort": [{"anomaly_grade": "desc"}, {"confidence": "desc"}],
            "query": {
                "bool": {
                    "filter": [
                        _window(minutes, "execution_end_time"),
                        {"term": {"detector_id": {"value": detector.id}}},
                    ]
                }
            },
            "aggregations": {"max_anomaly_grade": {"max": {"field": "anomaly_grade"}}},
        }
        message = dashboards_message(detector)
        trigger_name = f"{spec.name}-trigger"
        actions = [_action(spec, trigger_name, message, channel_id)] if spec.channel else []
        triggers = [_trigger(trigger_name, P1_SEVERITY, dashboards_condition(spec.high, spec.confidence), actions)]
        ui_extra: dict[str, Any] = {
            "search": {"searchType": "ad", "timeField": "", "aggregations": [], "groupBy": [], "filters": []},
            "triggers": {
                trigger_name: {
                    "value": 10000,
                    "enum": "ABOVE",
                    "adTriggerMetadata": {
                        "triggerType": "anomaly_detector_trigger",
                        "anomalyGrade": {"value": spec.high, "enum": "ABOVE"},
                        "anomalyConfidence": {"value": spec.confidence, "enum": "ABOVE"},
                    },
                }
            },
        }
    else:
        query = entities_query(detector, spec, minutes)
        message = entities_message(detector, spec)
        triggers = []
        for tier, severity, low, high in (
            ("P1", P1_SEVERITY, spec.high, None),
            ("P2", P2_SEVERITY, spec.low, spec.high),
        ):
            tname = f"{spec.name}-{tier}"
            actions = [_action(spec, tname, message, channel_id)] if spec.channel else []
            triggers.append(_trigger(tname, severity, tier_condition(low, high), actions))
        ui_extra = {"search": {"searchType": "query"}}
    body: dict[str, Any] = {
        "type": "monitor",
        "monitor_type": "query_level_monitor",
        "name": spec.name,
        "enabled": spec.enabled,
        "schedule": {"period": {"interval": minutes, "unit": "MINUTES"}},
        "inputs": [{"search": {"indices": result_indices(detector), "query": query}}],
        "triggers": triggers,
    }
    body["ui_metadata"] = {
        "schedule": {"period": {"interval": minutes, "unit": "MINUTES"}},
        "monitor_type": "query_level_monitor",
        **ui_extra,
        "hcad": {
            "spec": spec.to_dict(),
            "detector_id": detector.id,
            "message": message,
            "fingerprint": fingerprint(body),
        },
    }
    return body


def fingerprint(body: Mapping[str, Any]) -> str:
    """A short hash of what hcad builds (everything but ``ui_metadata``)."""
    core = {k: v for k, v in body.items() if k != "ui_metadata"}
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def is_ad_monitor(body: Mapping[str, Any]) -> bool:
    """Whether alerting treats this monitor as an AD monitor (its ``isADMonitor`` rule at 2.19.4.0)."""
    inputs = body.get("inputs") or []
    if len(inputs) != 1:
        return False
    search = inputs[0].get("search") if isinstance(inputs[0], Mapping) else None
    return isinstance(search, Mapping) and list(search.get("indices") or []) == [AD_RESULT_INDEX]


def _projection(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a monitor the server stores literally (ids of triggers and actions left out)."""
    triggers = []
    for t in body.get("triggers") or []:
        inner = t.get("query_level_trigger", t) if isinstance(t, Mapping) else {}
        actions = [
            {
                "name": a.get("name"),
                "destination_id": a.get("destination_id"),
                "message": (a.get("message_template") or {}).get("source"),
                "subject": (a.get("subject_template") or {}).get("source"),
                "throttle": a.get("throttle") if a.get("throttle_enabled") else None,
            }
            for a in inner.get("actions") or []
        ]
        triggers.append(
            {
                "name": inner.get("name"),
                "severity": str(inner.get("severity")),
                "condition": ((inner.get("condition") or {}).get("script") or {}).get("source"),
                "actions": actions,
            }
        )
    indices = [list((i.get("search") or {}).get("indices") or []) for i in body.get("inputs") or []]
    return {
        "name": body.get("name"),
        "enabled": body.get("enabled"),
        "schedule": body.get("schedule"),
        "indices": indices,
        "triggers": triggers,
    }


def diff(desired: Mapping[str, Any], existing: Mapping[str, Any]) -> list[str]:
    """What differs between a built monitor and the stored one ([] when applying would change nothing).

    The server re-serialises the query with defaults (boost, adjust_pure_negative, ...), so the query
    is compared through the fingerprint hcad stored with it; the literal parts are compared directly.
    """
    changes = []
    a, b = _projection(desired), _projection(existing)
    for key in a:
        if a[key] != b[key]:
            changes.append(key)
    want = ((desired.get("ui_metadata") or {}).get("hcad") or {}).get("fingerprint")
    have = ((existing.get("ui_metadata") or {}).get("hcad") or {}).get("fingerprint")
    if want != have and "query" not in changes:
        changes.append("query" if have else "query (not built by hcad or edited elsewhere)")
    return changes


# ---------------------------------------------------------------------------------------------- server
class Alerting:
    """The alerting plugin's monitor API (``/_plugins/_alerting/monitors``) with hcad errors."""

    def __init__(self, client: Any, *, check_plugin: bool = True) -> None:
        self.client = client
        if check_plugin and hasattr(client, "require_plugin"):
            client.require_plugin(ALERTING_PLUGIN)

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

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a monitor; returns ``{_id, _version, _seq_no, _primary_term, monitor}``."""
        return dict(self._call("POST", MONITORS, f"creating monitor {body.get('name')!r}", body=dict(body)))

    def update(
        self, monitor_id: str, body: Mapping[str, Any], *, seq_no: int | None = None, primary_term: int | None = None
    ) -> dict[str, Any]:
        """Replace a monitor (optimistic concurrency when ``seq_no``/``primary_term`` are given)."""
        params = {}
        if seq_no is not None and primary_term is not None:
            params = {"if_seq_no": seq_no, "if_primary_term": primary_term}
        return dict(
            self._call(
                "PUT",
                f"{MONITORS}/{quote(monitor_id, safe='')}",
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
                f"{MONITORS}/{quote(monitor_id, safe='')}",
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
                f"{MONITORS}/{quote(monitor_id, safe='')}",
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
        path = f"{MONITORS}/{quote(monitor_id, safe='')}/_execute" if monitor_id else f"{MONITORS}/_execute"
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


class Notifications:
    """The notifications plugin's REST API (``/_plugins/_notifications``), one thin method per endpoint.

    Paths, parameters and bodies follow the plugin's REST handlers at 2.19.4.0
    (``NotificationConfigRestHandler``, ``NotificationChannelListRestHandler``,
    ``NotificationFeaturesRestHandler``, ``SendTestMessageRestHandler``); errors are hcad errors with
    one-line messages. Documentation: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/
    """

    def __init__(self, client: Any, *, check_plugin: bool = True) -> None:
        self.client = client
        if check_plugin and hasattr(client, "require_plugin"):
            client.require_plugin(NOTIFICATIONS_PLUGIN)

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        not_found: str | None = None,
    ) -> Any:
        with translate_errors(action, not_found=not_found):
            return self.client.transport.perform_request(method, path, params=dict(params or {}), body=body)

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

    def get_config(self, *, config_id: str) -> dict[str, Any]:
        """``GET _plugins/_notifications/configs/{config_id}``: ``{config_id, config, ...}``;
        :class:`NotFound` when there is no such channel.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#get-channel-configuration
        """
        resp = self._call(
            "GET",
            f"{NOTIFICATIONS_CONFIGS}/{quote(config_id, safe='')}",
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

    def update_config(self, *, config_id: str, config: Mapping[str, Any]) -> str:
        """``PUT _plugins/_notifications/configs/{config_id}``: replace a channel's config (its type
        cannot change: the plugin answers 409); returns its id.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#update-channel-configuration
        """
        resp = self._call(
            "PUT",
            f"{NOTIFICATIONS_CONFIGS}/{quote(config_id, safe='')}",
            f"updating notification channel {config.get('name')!r}",
            body={"config": dict(config)},
            not_found=f"notification channel {config_id!r} does not exist",
        )
        return str(resp.get("config_id"))

    def delete_config(self, *, config_id: str) -> dict[str, Any]:
        """``DELETE _plugins/_notifications/configs/{config_id}``: ``{delete_response_list: {id: status}}``.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#delete-channel-configuration
        """
        return dict(
            self._call(
                "DELETE",
                f"{NOTIFICATIONS_CONFIGS}/{quote(config_id, safe='')}",
                f"deleting notification channel {config_id!r}",
                not_found=f"notification channel {config_id!r} does not exist",
            )
        )

    def send_test(self, *, config_id: str) -> dict[str, Any]:
        """``POST _plugins/_notifications/feature/test/{config_id}``: send a test message; the
        response's ``status_list[].delivery_status`` says whether the destination took it.

        Docs: https://opensearch.org/docs/2.19/observing-your-data/notifications/api/#send-test-notification
        """
        return dict(
            self._call(
                "POST",
                f"{NOTIFICATIONS}/feature/test/{quote(config_id, safe='')}",
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
            client.transport.perform_request("GET", f"{NOTIFICATIONS_CONFIGS}/{quote(channel_id, safe='')}")
    except NotFound:
        return Issue(path, f"notification channel {channel_id!r} does not exist", "list channels in Notifications")
    return None


DetectorLookup = Callable[[str], "Detector | None"]


def ad_lookup(client: Any) -> DetectorLookup:
    """Find detectors by exact name through the AD plugin (``detectors/_search``, term on the name)."""
    return lambda name: client.ad.find(name)


# ---------------------------------------------------------------------------------------------- plan/apply
@dataclass
class ChannelPlanItem:
    """What apply would do for one declared notification channel."""

    name: str
    type: str
    action: str  # create | update | unchanged
    channel_id: str
    config: dict[str, Any]
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
            alerting.update(item.monitor_id, item.body, seq_no=item.seq_no, primary_term=item.primary_term)
        out.append({"name": item.name, "action": item.action, "monitor_id": item.monitor_id})
    return out


# ---------------------------------------------------------------------------------------------- run
@dataclass
class TriggerOutcome:
    """One trigger of a monitor run: did it fire, and the rendered message(s)."""

    name: str
    severity: str | None
    triggered: bool
    error: str | None
    messages: list[str]


@dataclass
class RunReport:
    """What a dry run of a monitor found."""

    monitor: str
    period_start: str | None
    period_end: str | None
    error: str | None
    triggers: list[TriggerOutcome]
    entities: list[dict[str, Any]]

    @property
    def fired(self) -> list[TriggerOutcome]:
        return [t for t in self.triggers if t.triggered]

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "error": self.error,
            "fired": [t.name for t in self.fired],
            "triggers": [t.__dict__ for t in self.triggers],
            "entities": self.entities,
        }


def preview_body(monitor: Mapping[str, Any]) -> dict[str, Any]:
    """A stored monitor made ready for ``_execute`` with a body: every trigger gets an action, so the
    dry run renders the message even for monitors without a channel (dry runs send nothing)."""
    body = {k: v for k, v in monitor.items() if k not in _SERVER_KEYS}
    body["type"] = "monitor"
    message = ((monitor.get("ui_metadata") or {}).get("hcad") or {}).get("message") or (
        "{{ctx.monitor.name}}: {{ctx.trigger.name}} fired for {{ctx.periodStart}} to {{ctx.periodEnd}}"
    )
    triggers = []
    for t in monitor.get("triggers") or []:
        t = json.loads(json.dumps(t))
        inner = t.get("query_level_trigger", t)
        if not inner.get("actions"):
            inner["actions"] = [
                {
                    "name": "hcad-preview",
                    "destination_id": PREVIEW_DESTINATION,
                    "message_template": {"source": message, "lang": "mustache"},
                    "throttle_enabled": False,
                }
            ]
        triggers.append(t)
    body["triggers"] = triggers
    return body


def _instant(value: Any) -> str | None:
    """A period bound as alerting renders ``ctx.periodStart``: ISO-8601 UTC, millis only when non-zero
    (``_execute`` returns epoch milliseconds)."""
    if value is None or isinstance(value, str):
        return value
    ms = int(value)
    t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


def run_report(monitor: Mapping[str, Any], resp: Mapping[str, Any]) -> RunReport:
    """Summarise an ``_execute`` response (``MonitorRunResult``) for a monitor."""
    severities = {}
    for t in monitor.get("triggers") or []:
        inner = t.get("query_level_trigger", t)
        severities[inner.get("id") or inner.get("name")] = str(inner.get("severity"))
        severities[inner.get("name")] = str(inner.get("severity"))
    outcomes = []
    for tid, tr in (resp.get("trigger_results") or {}).items():
        messages = [
            str((ar.get("output") or {}).get("message"))
            for ar in (tr.get("action_results") or {}).values()
            if (ar.get("output") or {}).get("message")
        ]
        outcomes.append(
            TriggerOutcome(
                name=str(tr.get("name")),
                severity=severities.get(tid) or severities.get(tr.get("name")),
                triggered=bool(tr.get("triggered")),
                error=tr.get("error"),
                messages=messages,
            )
        )
    outcomes.sort(key=lambda t: (t.severity or "9", t.name))
    inputs = resp.get("input_results") or {}
    results = inputs.get("results") or []
    entities = []
    if results:
        for hit in (results[0].get("hits") or {}).get("hits") or []:
            src = hit.get("_source") or {}
            entities.append(
                {
                    "entity": {e.get("name"): e.get("value") for e in src.get("entity") or []},
                    "anomaly_grade": src.get("anomaly_grade"),
                    "confidence": src.get("confidence"),
                    "data_end_time": src.get("data_end_time"),
                }
            )
    return RunReport(
        monitor=str(resp.get("monitor_name") or monitor.get("name")),
        period_start=_instant(resp.get("period_start")),
        period_end=_instant(resp.get("period_end")),
        error=resp.get("error") or inputs.get("error"),
        triggers=outcomes,
        entities=entities,
    )


def run(client: Any, name_or_id: str, *, period_end_ms: int | None = None) -> RunReport:
    """Dry-run a stored monitor (``_execute?dryrun=true``): what would fire, with rendered messages."""
    alerting = Alerting(client)
    hit = alerting.resolve(name_or_id)
    resp = alerting.execute(body=preview_body(hit["monitor"]), period_end_ms=period_end_ms, dryrun=True)
    return run_report(hit["monitor"], resp)
