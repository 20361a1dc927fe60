"""What the anomaly-detection plugin answers, read into hcad's types.

:class:`DetectorState` (GET ``?job=true&task=true``), :class:`Suggestion` (``_suggest``),
:func:`validation_issues` (``_validate``), and :func:`classify_error`: the plugin's error messages
mapped onto :mod:`hcad.errors` (the messages are those of the 2.19.4.0 and 3.3.0.0 plugins).
:class:`~hcad.ad.client.AnomalyDetection` makes the requests; this module only reads answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hcad.ad.model import Detector, Interval
from hcad.errors import Conflict, HcadError, Issue, NotFound, ServerError, ValidationError, server_reason

TASK_DONE = ("FINISHED", "FAILED", "STOPPED")
# Server messages for a detector whose job or historical task is running (ConfigUpdateConfirmer,
# ADTaskManager): the plugin answers 400, which is a conflict with the detector's state.
_RUNNING = re.compile(r"(Job is running|is running|already running|is still running)", re.I)
_NOT_FOUND = re.compile(r"(Can't find config with id|Can't find detector with id|No anomaly detector found)", re.I)
NO_PAINLESS = re.compile(r"script_lang not supported \[painless\]", re.I)
# What the plugin answers (400) to _stop?historical=true when no historical analysis is running: "Detector
# not started" before any ran, "No running task found" (2.19.4.0) once the last one has finished.
NOT_STARTED = re.compile(r"Detector not started|No running task found", re.I)
# Every historical entity task slot of the node is taken (ADTaskManager / ADBatchTaskRunner).
NO_SLOT = re.compile(r"No available task slot", re.I)
# _suggest on an index without (matching) data answers 500 runtime_exception (3.3.0.0).
NO_SUGGESTION = re.compile(r"Fail to suggest parameters Exceptions: \[(.*)\]", re.S)
_IMMUTABLE = re.compile(r"Can't change (category field|custom result index|flatten result index)", re.I)

# AnomalyDetector.parse() rejects a configuration (name, description, shingle size, category
# fields, result index, imputation) with exceptions that carry no REST status: the real 2.19.4.0
# plugin answers 500 with these error types, not 400.
_PARSE_ERRORS = frozenset({"validation_exception", "status_exception", "illegal_argument_exception"})


def _error_type(body: Any) -> str:
    err = body.get("error") if isinstance(body, Mapping) else None
    return str(err.get("type", "")) if isinstance(err, Mapping) else ""


@dataclass
class DetectorState:
    """A detector with its real-time job and latest tasks (GET ``?job=true&task=true``)."""

    detector: Detector
    job: dict[str, Any] | None = None
    realtime_task: dict[str, Any] | None = None
    historical_task: dict[str, Any] | None = None

    @classmethod
    def from_response(cls, resp: Mapping[str, Any]) -> DetectorState:
        """Read GET ``detectors/{id}?job=true&task=true``."""
        return cls(
            Detector.from_response(resp),
            resp.get("anomaly_detector_job"),
            resp.get("realtime_task"),
            resp.get("historical_analysis_task"),
        )

    @property
    def realtime_running(self) -> bool:
        """True when the real-time job is enabled."""
        return bool(self.job and self.job.get("enabled"))

    @property
    def historical_running(self) -> bool:
        """True when the latest historical analysis has not finished, failed or stopped."""
        t = self.historical_task
        return bool(t and str(t.get("state", "")).upper() not in TASK_DONE)


@dataclass(frozen=True)
class Suggestion:
    """The plugin's ``_suggest`` answer (OpenSearch 3.3+), typed.

    ``history`` counts intervals of ``interval`` (the plugin sends that interval with it); ``None``
    where the type was not asked. ``raw`` is the response as the plugin sent it.

    What the 3.3.0.0 plugin does (``SuggestAnomalyDetectorParamTransportAction``), seen on a 3.3.2 node:

    - ``detection_interval`` ignores the detector's interval and proposes one from the data
      (``{"interval": {"period": {"interval": 10, "unit": "Minutes"}}}``).
    - ``history`` counts intervals of the proposed interval when ``detection_interval`` is asked too,
      else of the detector's interval, else of the parser's default of **one minute**; the answer
      carries that ``interval`` beside ``history``.
    - ``window_delay`` is ``(ceil(lag / interval) + 1) x interval``, the lag being now minus the newest
      document, with the detector's interval (one minute when it has none): ``windowDelay``.
    - An index without data fails the request ("Empty data. Cannot find a good interval.").
    """

    interval: Interval | None = None
    history: int | None = None
    window_delay: Interval | None = None
    raw: Mapping[str, Any] | None = None

    @classmethod
    def from_response(cls, resp: Mapping[str, Any]) -> Suggestion:
        """Parse the _suggest API's answer (fields it left out stay None)."""

        def interval(key: str) -> Interval | None:
            value = resp.get(key)
            return Interval.from_api(value, key) if isinstance(value, Mapping) else None

        history = resp.get("history")
        return cls(
            interval=interval("interval"),
            history=int(history) if isinstance(history, (int, float)) and not isinstance(history, bool) else None,
            window_delay=interval("windowDelay"),
            raw=dict(resp),
        )

    @property
    def history_minutes(self) -> float | None:
        """The suggested history as minutes of data (``history`` x ``interval``)."""
        if self.history is None or self.interval is None:
            return None
        return self.history * self.interval.minutes

    def to_dict(self) -> dict[str, Any]:
        return {
            "interval": None if self.interval is None else str(self.interval),
            "history": self.history,
            "history_minutes": self.history_minutes,
            "window_delay": None if self.window_delay is None else str(self.window_delay),
        }


def detectors_from_search(resp: Mapping[str, Any]) -> list[Detector]:
    """The detectors of a ``detectors/_search`` response, each with its id, sequence number and version."""
    return [
        Detector.from_api(
            hit.get("_source") or {},
            id=hit.get("_id"),
            seq_no=hit.get("_seq_no"),
            primary_term=hit.get("_primary_term"),
            version=hit.get("_version"),
        )
        for hit in resp.get("hits", {}).get("hits", [])
    ]


def validation_issues(resp: Mapping[str, Any]) -> list[Issue]:
    """The ``_validate`` response (``{aspect: {field: {message, sub_issues?, suggested_value?}}}``) as issues."""
    out: list[Issue] = []
    for aspect, fields in (resp or {}).items():
        if not isinstance(fields, Mapping):
            continue
        for fname, detail in fields.items():
            if not isinstance(detail, Mapping):
                out.append(Issue(f"{aspect}.{fname}", str(detail)))
                continue
            suggested = detail.get("suggested_value")
            fix = f"suggested value: {suggested}" if suggested is not None else ""
            subs = detail.get("sub_issues") or {}
            if subs:
                for sub, msg in subs.items():
                    out.append(Issue(f"{aspect}.{fname}.{sub}", str(msg), fix))
            else:
                out.append(Issue(f"{aspect}.{fname}", str(detail.get("message", "")), fix))
    return out


def classify_error(e: ServerError, action: str, detector_id: str | None, config_errors: bool) -> HcadError:
    """The hcad exception for a server error: not found, a running job (conflict), a fixed field or a
    rejected configuration (validation), a missing painless module; otherwise ``e`` itself."""
    reason = server_reason(e.body)
    if _NOT_FOUND.search(reason):
        return NotFound(f"{action}: detector {detector_id!r} does not exist ({reason})")
    if e.status == 400 and _RUNNING.search(reason):
        who = detector_id or "the detector"
        return Conflict(
            f"{action}: {reason}; stop it first with 'hcad detectors stop {who}' "
            f"(or ad.stop({who!r}) and ad.stop({who!r}, historical=True))"
        )
    if e.status == 400 and _IMMUTABLE.search(reason):
        return ValidationError(
            [Issue("", f"{action}: {reason}", "category fields and result index are fixed; create a new detector")]
        )
    if NO_PAINLESS.search(reason):
        return ServerError(
            f"{e.message} (the cluster has no lang-painless module: the anomaly-detection plugin needs it to "
            "start a detector or historical analysis a second time, and for top anomalies)",
            status=e.status,
            body=e.body,
        )
    if config_errors and (e.status == 400 or (e.status == 500 and _error_type(e.body) in _PARSE_ERRORS)):
        return ValidationError([Issue("", f"{action}: the server rejected the detector: {reason}", "")])
    return e
