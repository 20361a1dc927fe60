"""Dry runs of a monitor (``_execute``) and what they report: tiers fired and the entities named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hcad.alerting.client import Alerting
from hcad.alerting.spec import _SERVER_KEYS, PREVIEW_DESTINATION

if TYPE_CHECKING:
    pass


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
        """The triggers whose condition held in this run."""
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
