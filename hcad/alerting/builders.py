"""Monitor bodies built from a detector and a spec: queries, trigger conditions, messages, fingerprints."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hcad.alerting.spec import AD_RESULT_INDEX, P1_SEVERITY, P2_SEVERITY, RESULT_LAG_MINUTES, MonitorSpec
from hcad.errors import ConfigError

if TYPE_CHECKING:
    from hcad.ad.model import Detector


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


def _window_seconds(seconds: int, field_name: str, lag: int) -> dict[str, Any]:
    """``field_name`` in the ``seconds`` before ``period_end``, shifted back by ``lag`` seconds."""
    return {
        "range": {
            field_name: {
                "from": f"{{{{period_end}}}}||-{seconds + lag}s",
                "to": f"{{{{period_end}}}}||-{lag}s",
                "include_lower": True,
                "include_upper": False,
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
    if spec.results == "realtime" and spec.result_lag_seconds is not None:
        filters.insert(1, _window_seconds(lookback_minutes * 60, "execution_end_time", spec.result_lag_seconds))
        query["bool"]["must_not"] = [{"exists": {"field": "task_id"}}]
    elif spec.results == "realtime":
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
