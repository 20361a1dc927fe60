"""Monitor and channel specs as code: the YAML shapes, their validation and loading (no I/O but reading files)."""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hcad.ad.limits import RECOMMENDED_MIN_CONFIDENCE, RECOMMENDED_MIN_GRADE
from hcad.errors import ConfigError, Issue, ValidationError

if TYPE_CHECKING:
    pass


AD_RESULT_INDEX = ".opendistro-anomaly-results*"
# The alerting plugin leaves ``ui_metadata`` out of GET and _search responses unless the User-Agent
# contains "OpenSearch-Dashboards" (``RestHandlerUtils.context``, 2.19.4.0). hcad keeps its spec,
# fingerprint and message there, so it reads monitors the way Dashboards does.

KINDS = ("entities", "dashboards")
RESULT_MODES = ("realtime", "historical")
DEFAULT_HIGH = 0.7  # P1: Dashboards' default grade threshold
# P2 and the confidence floor of an ``entities`` monitor: the alerting thresholds scripts/tune_defaults.py
# chose with the detector defaults (fewest false alarms per entity-day on held-out fleets; issue 17).
DEFAULT_LOW = RECOMMENDED_MIN_GRADE
DEFAULT_CONFIDENCE = RECOMMENDED_MIN_CONFIDENCE
DASHBOARDS_CONFIDENCE = 0.7  # a ``dashboards`` monitor keeps Dashboards' own default
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
        "result_lag",
    }
)
THRESHOLD_KEYS = frozenset({"high", "low", "confidence"})
# Keys the server adds or rewrites on a stored monitor; left out when comparing with a built one.
_SERVER_KEYS = ("last_update_time", "enabled_time", "schema_version", "user", "data_sources", "owner", "type")

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


def _whole_in(value: object, lo: int, hi: int | None) -> bool:
    """A whole number (numpy's too, not a bool) from ``lo`` to ``hi`` (None: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return lo <= int(value) and (hi is None or int(value) <= hi)


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
    result_lag_seconds: int | None = None  # None: RESULT_LAG_MINUTES

    def __post_init__(self) -> None:
        # from_dict checks a file's values with its own paths first; this catches a spec built in Python.
        issues: list[Issue] = []
        for key in ("name", "detector"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key).strip():
                issues.append(Issue(key, f"{getattr(self, key)!r} is not a non-empty string", ""))
        if self.kind not in KINDS:
            issues.append(Issue("kind", f"{self.kind!r} is not a monitor kind", f"use one of {', '.join(KINDS)}"))
        if self.results not in RESULT_MODES:
            issues.append(Issue("results", f"{self.results!r} is not valid", f"use one of {', '.join(RESULT_MODES)}"))
        counts: tuple[tuple[str, object, int, int | None], ...] = (
            ("top", self.top, 1, MAX_TOP),
            ("interval_minutes", self.interval_minutes, 1, None),
            ("throttle_minutes", self.throttle_minutes, 1, None),
            ("result_lag_seconds", self.result_lag_seconds, 0, None),  # no lag is a lag
        )
        for key, value, lo, hi in counts:
            if value is None and key != "top":
                continue
            if not _whole_in(value, lo, hi):
                rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                issues.append(Issue(key, f"{value!r} is not a whole number in {rng}", ""))
        for key in ("high", "low", "confidence"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
                issues.append(Issue(key, f"{value!r} is not a number in [0, 1]", ""))
        if not issues and self.kind == "entities" and self.low >= self.high:
            why = f"low ({self.low}) must be below high ({self.high})"
            issues.append(Issue("low", why, "P2 is low <= grade < high"))
        if issues:
            raise ValidationError(issues, self.source or "MonitorSpec")

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
            if not _whole_in(value, lo, hi):
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
        result_lag = _seconds(data["result_lag"], "result_lag", issues) if data.get("result_lag") is not None else None

        thresholds = data.get("thresholds") or {}
        default_conf = DASHBOARDS_CONFIDENCE if kind == "dashboards" else DEFAULT_CONFIDENCE
        high, low, conf = DEFAULT_HIGH, DEFAULT_LOW, default_conf
        if not isinstance(thresholds, Mapping):
            issues.append(Issue("thresholds", "expected a mapping with high, low, confidence", ""))
        else:
            for key in sorted(set(thresholds) - THRESHOLD_KEYS):
                issues.append(Issue(f"thresholds.{key}", "unknown threshold", "use high, low or confidence"))
            high = _unit(thresholds.get("high", DEFAULT_HIGH), "thresholds.high", issues)
            low = _unit(thresholds.get("low", DEFAULT_LOW), "thresholds.low", issues)
            conf = _unit(thresholds.get("confidence", default_conf), "thresholds.confidence", issues)
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
            result_lag_seconds=result_lag,
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
            ("result_lag", self.result_lag_seconds),
        ):
            if value is not None:
                out[key] = value
        return out


def _unit(value: Any, path: str, issues: list[Issue]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not 0 <= value <= 1:
        issues.append(Issue(path, f"{value!r} is not a number in [0, 1]", "AD grades and confidences are in [0, 1]"))
        return -1.0
    return float(value)


def _seconds(value: Any, path: str, issues: list[Issue]) -> int | None:
    """``15`` (seconds), ``"15s"`` or ``"1m"`` → whole seconds >= 0 (a real-time monitor's result lag)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3600:
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*(s|sec|seconds?|m|min|minutes?)?\s*", value, re.I)
        if m:
            n = int(m.group(1)) * (60 if (m.group(2) or "s").lower().startswith("m") else 1)
            if n <= 3600:
                return n
    issues.append(Issue(path, f"{value!r} is not a duration of 0 to 3600 seconds", 'write e.g. "15s" or "1m"'))
    return None


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
    # Not in repr: webhook URLs and headers often carry the secret (a Slack hook, a token header).
    url: str | None = field(default=None, repr=False)
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
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


def shown_url(url: str) -> str:
    """A channel URL as errors and logs may show it: scheme and host only. Webhook URLs (Slack, Chime,
    and many webhooks) carry their secret in the path or query, so the rest never appears."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "the URL"
    if not parts.scheme and not host:
        return "the URL"
    return f"'{parts.scheme}://{host}/…'" if host else f"'{parts.scheme}:…'"


def _url_problem(url: str, *, https_only: bool) -> str | None:
    """Why ``url`` cannot be a channel URL, or None (the message never shows its path or query)."""
    from urllib.parse import urlsplit

    shown = shown_url(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return f"{shown} is not a valid URL"
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme.lower() not in schemes:
        need = "https" if https_only else "http or https"
        return f"{shown} must use {need}" + (f", not {parts.scheme}" if parts.scheme else "")
    if not parts.hostname or any(c.isspace() for c in url):
        return f"{shown} is not a valid URL (no host, or spaces)"
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

    if isinstance(paths, (str, Path)):  # one file or folder, not its characters
        paths = [paths]

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
