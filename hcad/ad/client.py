"""The anomaly-detection plugin's REST API as Python methods, with clear errors and waiting helpers.

Paths, parameters and bodies follow the plugin's REST handlers at 2.19.4.0
(``org.opensearch.ad.rest.Rest*Action``). Every method raises an :mod:`hcad.errors` exception with
a one-line message; validation problems are found client-side before anything is sent.

=====================================  ==========================================================
method                                 endpoint
=====================================  ==========================================================
``create``                             ``POST   detectors``
``get`` / ``get_state`` / ``exists``   ``GET    detectors/{id}[?job=true&task=true]``, ``HEAD``
``update``                             ``PUT    detectors/{id}?if_seq_no&if_primary_term``
``delete``                             ``DELETE detectors/{id}``
``search`` / ``find``                  ``POST   detectors/_search``
``validate``                           ``POST   detectors/_validate[/detector|/model]``
``suggest``                            ``POST   detectors/_suggest/{types}`` (3.3+)
``preview``                            ``POST   detectors[/{id}]/_preview``
``start`` / ``start_historical``       ``POST   detectors/{id}/_start`` (body start_time/end_time)
``stop``                               ``POST   detectors/{id}/_stop[?historical=true]``
``profile``                            ``GET    detectors/{id}/_profile[/{types}]`` (POST + entity)
``stats``                              ``GET    /_plugins/_anomaly_detection[/{node}]/stats[/{stat}]``
``search_results`` / ``results``       ``POST   detectors/results/_search[/{resultIndex}]``
``delete_results``                     ``DELETE detectors/results``
``top_anomalies``                      ``POST   detectors/{id}/results/_topAnomalies[?historical=]``
``search_tasks``                       ``POST   detectors/tasks/_search``
=====================================  ==========================================================
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hcad.ad.answers import (
    NO_PAINLESS,
    NO_SUGGESTION,
    NOT_STARTED,
    DetectorState,
    Suggestion,
    classify_error,
    detectors_from_search,
    validation_issues,
)
from hcad.ad.limits import ENTITY_PROFILE_TYPES, PROFILE_TYPES, SUGGEST_TYPES, VALIDATE_TYPES
from hcad.ad.model import (
    DEFAULT_CATEGORY_FIELD_LIMIT,
    DEFAULT_MAX_FEATURES,
    SINCE,
    Detector,
)
from hcad.ad.preflight import Preflight, preflight
from hcad.ad.results import (
    read_results,
    top_anomalies_body,
    top_anomalies_frame,
    top_from_result_docs,
)
from hcad.ad.validation import historical_shingle_issue
from hcad.errors import (
    ConfigError,
    Conflict,
    Issue,
    NotFound,
    ServerError,
    UnsupportedFeature,
    ValidationError,
    server_reason,
)
from hcad.times import to_epoch_ms
from hcad.transport import AD_PLUGIN, quoted_id, translate_errors

if TYPE_CHECKING:
    import pandas as pd

BASE = "/_plugins/_anomaly_detection"
DETECTORS = f"{BASE}/detectors"


Progress = Callable[[float, Mapping[str, Any]], None]


def _id(detector_id: str) -> str:
    return quoted_id(detector_id, "detector id", "pass the id returned by create() or shown by search()")


class AnomalyDetection:
    """Client for the anomaly-detection plugin on one cluster.

    ``AnomalyDetection(client)`` checks on creation that the plugin is installed (``check_plugin``);
    ``hcad.connect(...).ad`` does the same. ``client`` is an :class:`hcad.HcadClient` (or any
    opensearch-py client).
    """

    def __init__(
        self,
        client: Any,
        *,
        check_plugin: bool = True,
        category_field_limit: int = DEFAULT_CATEGORY_FIELD_LIMIT,
        max_features: int = DEFAULT_MAX_FEATURES,
    ) -> None:
        self.client = client
        self.category_field_limit = category_field_limit
        self.max_features = max_features
        if check_plugin and hasattr(client, "require_plugin"):
            client.require_plugin(AD_PLUGIN)

    # ------------------------------------------------------------------ plumbing
    @property
    def version(self) -> tuple[int, int, int]:
        """The server's OpenSearch version (the plugin's version matches it)."""
        v = getattr(self.client, "version", None)
        if isinstance(v, tuple):
            return v
        from hcad.transport import parse_version

        with translate_errors("reading the server version"):
            return parse_version(str(self.client.info()["version"]["number"]))

    def supports(self, feature: str) -> bool:
        """Whether the server is new enough for ``feature`` (a key of :data:`hcad.ad.model.SINCE`)."""
        return self.version >= SINCE[feature]

    def _require(self, feature: str, what: str) -> None:
        since = SINCE[feature]
        if self.version < since:
            have = ".".join(map(str, self.version))
            need = ".".join(map(str, since))
            raise UnsupportedFeature(f"{what} is not supported by this server version ({have}); it needs {need}+")

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        detector_id: str | None = None,
        config_errors: bool = False,
    ) -> Any:
        """One request; server errors become hcad errors naming ``action``.

        ``config_errors``: a 400 means the detector configuration was rejected (ValidationError).
        """
        gone = f"{action}: detector {detector_id!r} does not exist" if detector_id else None
        try:
            with translate_errors(action, not_found=gone):
                return self.client.transport.perform_request(method, path, params=dict(params or {}), body=body)
        except ServerError as e:
            raise classify_error(e, action, detector_id, config_errors) from e
        except Conflict as e:
            if params and "if_seq_no" in params:
                raise Conflict(
                    f"{e.message}; the detector changed on the server since it was read: get() it again"
                ) from e
            raise

    def _body(self, detector: Detector | Mapping[str, Any], *, check: bool) -> tuple[Detector, dict[str, Any]]:
        det = detector if isinstance(detector, Detector) else Detector.from_dict(detector)
        if det.has_builder_rules:
            # Defaults Detector.hcad() chose that this server cannot take are left out, with a warning;
            # what the caller set is checked below and refused with the version it needs.
            det, notes = det.for_version(self.version)
            for note in notes:
                warnings.warn(f"detector {det.name!r}: {note}", UserWarning, stacklevel=3)
        if check:
            det.check(category_field_limit=self.category_field_limit, max_features=self.max_features)
            det.require_supported(self.version)
        return det, det.to_request()

    # ------------------------------------------------------------------ detectors
    def create(self, detector: Detector | Mapping[str, Any], *, check: bool = True) -> Detector:
        """Create a detector; returns it as stored (with ``id``, ``seq_no``, ``primary_term``).

        With ``check`` (default) the detector is validated client-side first and nothing is sent
        when it breaks a rule.
        """
        det, body = self._body(detector, check=check)
        resp = self._call("POST", DETECTORS, f"creating detector {det.name!r}", body=body, config_errors=True)
        return Detector.from_response(resp)

    def get(self, detector_id: str) -> Detector:
        """The detector with this id."""
        resp = self._call(
            "GET", f"{DETECTORS}/{_id(detector_id)}", f"getting detector {detector_id}", detector_id=detector_id
        )
        return Detector.from_response(resp)

    def get_state(self, detector_id: str) -> DetectorState:
        """The detector with its job and latest real-time/historical tasks."""
        resp = self._call(
            "GET",
            f"{DETECTORS}/{_id(detector_id)}",
            f"getting detector {detector_id}",
            params={"job": "true", "task": "true"},
            detector_id=detector_id,
        )
        return DetectorState.from_response(resp)

    def exists(self, detector_id: str) -> bool:
        """True when a detector with this id exists (HEAD)."""
        try:
            with translate_errors(f"checking detector {detector_id}"):
                return bool(self.client.transport.perform_request("HEAD", f"{DETECTORS}/{_id(detector_id)}"))
        except NotFound:
            return False

    def update(
        self,
        detector_id: str,
        detector: Detector | Mapping[str, Any],
        *,
        if_seq_no: int | None = None,
        if_primary_term: int | None = None,
        check: bool = True,
    ) -> Detector:
        """Replace a stopped detector's configuration.

        Optimistic concurrency: ``if_seq_no``/``if_primary_term`` default to the values the
        detector was read with (``get()``), so a change made meanwhile gives :class:`Conflict`.
        A running detector gives :class:`Conflict` saying how to stop it.
        """
        det, body = self._body(detector, check=check)
        seq = if_seq_no if if_seq_no is not None else det.seq_no
        term = if_primary_term if if_primary_term is not None else det.primary_term
        params: dict[str, Any] = {}
        if seq is not None and term is not None:
            params = {"if_seq_no": seq, "if_primary_term": term}
        resp = self._call(
            "PUT",
            f"{DETECTORS}/{_id(detector_id)}",
            f"updating detector {detector_id}",
            params=params,
            body=body,
            detector_id=detector_id,
            config_errors=True,
        )
        return Detector.from_response(resp)

    def delete(self, detector_id: str) -> dict[str, Any]:
        """Delete a stopped detector (its results stay in the result index)."""
        return dict(
            self._call(
                "DELETE", f"{DETECTORS}/{_id(detector_id)}", f"deleting detector {detector_id}", detector_id=detector_id
            )
        )

    def search(self, query: Mapping[str, Any] | None = None, *, size: int = 1000) -> list[Detector]:
        """Detectors matching a query (all by default), with their ids."""
        if query is not None and not isinstance(query, Mapping):
            raise ConfigError(f"query {query!r} is not a query mapping, e.g. {{'term': {{'name.keyword': 'x'}}}}; "
                              "find(name) finds one by name")  # fmt: skip
        body = {"query": dict(query or {"match_all": {}}), "size": size}
        try:
            resp = self._call("POST", f"{DETECTORS}/_search", "searching detectors", body=body)
        except NotFound:
            return []  # no detector was ever created: the config index does not exist yet
        return detectors_from_search(resp)

    def find(self, name: str) -> Detector | None:
        """The detector with exactly this name, or None."""
        found = self.search({"term": {"name.keyword": name}}, size=2)
        return found[0] if found else None

    def resolve(self, name_or_id: str) -> Detector:
        """The detector with this name, else with this id; :class:`NotFound` when neither exists."""
        det = self.find(name_or_id)
        if det is not None:
            return det
        try:
            return self.get(name_or_id)
        except NotFound:
            raise NotFound(
                f"no detector is named or has the id {name_or_id!r}; list them with 'hcad detectors list'"
            ) from None

    # ------------------------------------------------------------------ validate / suggest / preview
    def validate(self, detector: Detector | Mapping[str, Any], kind: str | None = None) -> list[Issue]:
        """Ask the server to validate (``kind`` detector, model, or both when None); returns its issues.

        Client-side rules are checked first and raise :class:`ValidationError` without a request.
        """
        if kind is not None and kind not in VALIDATE_TYPES:
            raise ConfigError(f"validation kind {kind!r} is not one of {', '.join(VALIDATE_TYPES)}")
        det, body = self._body(detector, check=True)
        path = f"{DETECTORS}/_validate" + (f"/{kind}" if kind else "")
        resp = self._call("POST", path, f"validating detector {det.name!r}", body=body, config_errors=True)
        return validation_issues(resp)

    def suggest(self, detector: Detector | Mapping[str, Any], types: Sequence[str] = SUGGEST_TYPES) -> dict[str, Any]:
        """Suggested ``detection_interval``/``history``/``window_delay`` (OpenSearch 3.3+), the plugin's answer.

        What each type means and how the plugin computes it: :class:`~hcad.ad.answers.Suggestion`.
        :meth:`suggestion` reads the answer into one; 2.x servers raise
        :class:`~hcad.errors.UnsupportedFeature` before any request. No detection interval is sent when
        the detector has none (proposing one is the point).
        """
        self._require("_suggest", "_suggest (parameter suggestions)")
        bad = [t for t in types if t not in SUGGEST_TYPES]
        if bad:
            raise ConfigError(f"suggest type(s) {', '.join(bad)} not one of {', '.join(SUGGEST_TYPES)}")
        if not types:
            raise ConfigError(f"no suggest type given; ask for one or more of {', '.join(SUGGEST_TYPES)}")
        det, body = self._body(detector, check=True)
        action = f"suggesting {','.join(types)} for {det.name!r}"
        try:
            return dict(
                self._call("POST", f"{DETECTORS}/_suggest/{','.join(types)}", action, body=body, config_errors=True)
            )
        except ServerError as e:
            m = NO_SUGGESTION.search(server_reason(e.body))
            if not m:
                raise
            raise ServerError(
                f"{action}: the plugin found nothing to suggest from ({m.group(1)}); it reads the documents of "
                f"{', '.join(det.indices)} that match the detector's filter, by {det.time_field}",
                status=e.status,
                body=e.body,
            ) from e

    def suggestion(self, detector: Detector | Mapping[str, Any], types: Sequence[str] = SUGGEST_TYPES) -> Suggestion:
        """:meth:`suggest`, read into a :class:`Suggestion` (intervals as :class:`~hcad.ad.parts.Interval`)."""
        return Suggestion.from_response(self.suggest(detector, types))

    def preview(
        self,
        detector: Detector | Mapping[str, Any] | str,
        start: datetime | int | str,
        end: datetime | int | str,
    ) -> dict[str, Any]:
        """Run the detector over ``[start, end)`` without saving anything (at most 5 entities for HC).

        Returns the server's ``{anomaly_result: [...], anomaly_detector: {...}}``;
        :func:`hcad.ad.results.results_frame` turns ``anomaly_result`` into a DataFrame. The plugin
        samples the range (about 1,000 points per entity, filled in between, so most values are not
        documents' values) and answers an empty list, not an error, for a range too short to train on
        (seen: 6 hours at a 1-minute interval on 2.19.4.0).
        """
        body: dict[str, Any] = {"period_start": to_epoch_ms(start, "start"), "period_end": to_epoch_ms(end, "end")}
        if body["period_end"] <= body["period_start"]:
            raise ConfigError("preview end must be after start")
        if isinstance(detector, str):
            path = f"{DETECTORS}/{_id(detector)}/_preview"
            body["detector_id"] = detector
            return dict(self._call("POST", path, f"previewing detector {detector}", body=body, detector_id=detector))
        det, det_body = self._body(detector, check=True)
        body["detector"] = det_body
        return dict(
            self._call(
                "POST", f"{DETECTORS}/_preview", f"previewing detector {det.name!r}", body=body, config_errors=True
            )
        )

    # ------------------------------------------------------------------ jobs
    def start(self, detector_id: str) -> str:
        """Start real-time detection; returns the detector id."""
        resp = self._call(
            "POST",
            f"{DETECTORS}/{_id(detector_id)}/_start",
            f"starting detector {detector_id}",
            detector_id=detector_id,
        )
        return str(resp.get("_id", detector_id))

    def start_historical(
        self,
        detector_id: str,
        start: datetime | int | str,
        end: datetime | int | str,
        *,
        slot_wait: float = 0,
        detector: Detector | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> str:
        """Start historical analysis over ``[start, end)``; returns the task id.

        A detector whose shingle is above 32 is refused before anything starts (the plugin would
        fail every entity task; see :func:`hcad.ad.validation.historical_shingle_issue`). Pass the
        ``detector`` when you have it (as :meth:`create` or :meth:`get` returned it) to save the GET
        that reads its shingle.

        The plugin runs at most ``plugins.anomaly_detection.max_batch_task_per_node`` (10) historical
        entity tasks per node, shared by every user of the cluster; while they are taken it refuses a
        new run with "No available task slot" (:class:`Conflict`). ``slot_wait`` seconds > 0 retries
        every 10 s until a slot frees or the time is up.
        See https://opensearch.org/docs/latest/observing-your-data/ad/api/#start-detector-job
        """
        body = {"start_time": to_epoch_ms(start, "start"), "end_time": to_epoch_ms(end, "end")}
        if body["end_time"] <= body["start_time"]:
            raise ConfigError("historical analysis end must be after start")
        if detector is None or detector.id != detector_id:
            detector = self.get(detector_id)
        issue = historical_shingle_issue(detector.effective_shingle_size)
        if issue is not None:
            raise ValidationError([issue], source=f"detector {detector_id}")
        from hcad.ad.waiting import retry_while_no_slot

        def start_task() -> str:
            path = f"{DETECTORS}/{_id(detector_id)}/_start"
            action = f"starting historical analysis of {detector_id}"
            return str(self._call("POST", path, action, body=body, detector_id=detector_id)["_id"])

        return retry_while_no_slot(start_task, detector_id, slot_wait, sleep=sleep, clock=clock)

    def stop(self, detector_id: str, *, historical: bool = False) -> dict[str, Any]:
        """Stop real-time detection, or the historical analysis with ``historical=True``.

        Stopping what is not running is not an error: the plugin answers 200 for real-time detection
        and 400 "Detector not started" for a historical analysis; both return ``{"_id": id}``.
        """
        params = {"historical": "true"} if historical else {}
        what = "historical analysis of" if historical else "detector"
        try:
            resp = self._call(
                "POST",
                f"{DETECTORS}/{_id(detector_id)}/_stop",
                f"stopping {what} {detector_id}",
                params=params,
                detector_id=detector_id,
            )
        except ServerError as e:
            if historical and e.status == 400 and NOT_STARTED.search(server_reason(e.body)):
                return {"_id": detector_id}
            raise
        return dict(resp)

    # ------------------------------------------------------------------ profile / stats
    def profile(
        self,
        detector_id: str,
        types: Iterable[str] | None = None,
        *,
        entity: Mapping[str, Any] | None = None,
        all_: bool = False,
    ) -> dict[str, Any]:
        """The detector's profile (state, models with ``model_size_in_bytes``, init progress, ...).

        ``entity`` (``{"host": "h1", "process": "p1"}``) profiles one entity of an HC detector.
        """
        types = [types] if isinstance(types, str) else list(types or [])
        allowed = ENTITY_PROFILE_TYPES if entity else PROFILE_TYPES
        bad = [t for t in types if t not in allowed]
        if bad:
            raise ConfigError(f"profile type(s) {', '.join(bad)} not one of {', '.join(allowed)}")
        path = f"{DETECTORS}/{_id(detector_id)}/_profile" + (f"/{','.join(types)}" if types else "")
        params = {"_all": "true"} if all_ else {}
        action = f"profiling detector {detector_id}"
        if entity:
            body = {"entity": [{"name": k, "value": str(v)} for k, v in entity.items()]}
            return dict(self._call("POST", path, action, params=params, body=body, detector_id=detector_id))
        return dict(self._call("GET", path, action, params=params, detector_id=detector_id))

    def stats(self, stat: str | None = None, *, node_id: str | None = None) -> dict[str, Any]:
        """Plugin statistics (cluster-level and per node), optionally one ``stat`` (or several, comma-separated)
        and one node (``node_id``: a node id, or ``_local``)."""
        node = "" if node_id is None else "/" + quoted_id(node_id, "node_id", "pass a node id or '_local'")
        path = BASE + node + "/stats"
        if stat is not None:
            # commas stay: the plugin reads "a,b" as two stats
            path += "/" + quoted_id(stat, "stat", "pass a stat name such as 'model_count'", safe=",")
        return dict(self._call("GET", path, "reading anomaly-detection stats"))

    # ------------------------------------------------------------------ results
    def search_results(
        self,
        body: Mapping[str, Any],
        *,
        result_index: str | None = None,
        only_custom_result_index: bool = False,
    ) -> dict[str, Any]:
        """Search anomaly results: the default indices, plus ``result_index`` (custom) when given."""
        if only_custom_result_index and not result_index:
            raise ConfigError("only_custom_result_index needs result_index")
        path = f"{DETECTORS}/results/_search"
        params: dict[str, Any] = {}
        if result_index:
            path += "/" + quoted_id(result_index, "result_index", "pass an index name or pattern", safe="*,")
            if only_custom_result_index:
                params["only_query_custom_result_index"] = "true"
        return dict(self._call("POST", path, "searching anomaly results", params=params, body=dict(body)))

    def delete_results(self, query: Mapping[str, Any]) -> dict[str, Any]:
        """Delete results matching ``query`` from the default result indices (delete-by-query)."""
        if not query:
            raise ConfigError("delete_results needs a query; use {'term': {'detector_id': id}} for one detector")
        return dict(
            self._call("DELETE", f"{DETECTORS}/results", "deleting anomaly results", body={"query": dict(query)})
        )

    def results(
        self,
        detector: Detector | str,
        start: datetime | int | str | None = None,
        end: datetime | int | str | None = None,
        *,
        entity: Mapping[str, Any] | None = None,
        only_anomalies: bool = False,
        task_id: str | None = None,
        realtime_only: bool = False,
        page_size: int = 5000,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """The detector's results as a DataFrame (see :func:`hcad.ad.results.results_frame`).

        Reads every matching result, past 10,000 hits, through the plugin's results search (so
        permissions apply as in Dashboards). ``task_id`` selects one historical run.
        """
        det = detector if isinstance(detector, Detector) else self.get(detector)
        if det.id is None:
            raise ConfigError(f"detector {det.name!r} has no id; create it first or get() it from the server")
        return read_results(
            self._result_search(det),
            det.id,
            start,
            end,
            category_fields=det.category_fields,
            entity=entity,
            only_anomalies=only_anomalies,
            task_id=task_id,
            realtime_only=realtime_only,
            page_size=page_size,
            on_page=progress,
        )

    def top_anomalies(
        self,
        detector_id: str,
        *,
        historical: bool = False,
        task_id: str | None = None,
        size: int = 10,
        category_fields: Sequence[str] | None = None,
        order: str = "severity",
        start: datetime | int | str | None = None,
        end: datetime | int | str | None = None,
    ) -> pd.DataFrame:
        """The entities with the most severe (or most frequent) anomalies, as a DataFrame.

        Real-time results need ``start`` and ``end``; ``historical=True`` reads the latest historical run
        (or ``task_id``'s) over the range it analysed unless given. Which of several entities tied at the
        last listed grade (grades saturate at 1.0) the plugin lists is not defined (a heap, 2.19.4.0).
        """
        body = top_anomalies_body(size=size, order=order, category_fields=category_fields, task_id=task_id,
                                  start=start, end=end)  # fmt: skip
        if not historical and ("start_time_ms" not in body or "end_time_ms" not in body):
            raise ConfigError("top anomalies of real-time results need start and end")
        if historical and ("start_time_ms" not in body or "end_time_ms" not in body):
            # SearchTopAnomalyResultRequest.validate() refuses a request without both, historical or not
            task = self._historical_task(detector_id, task_id)
            body["task_id"] = task["task_id"]
            rng = task.get("detection_date_range") or {}
            if rng.get("start_time") is None or rng.get("end_time") is None:
                raise ConfigError(f"historical task {task['task_id']} has no date range; pass start and end")
            body.setdefault("start_time_ms", int(rng["start_time"]))
            body.setdefault("end_time_ms", int(rng["end_time"]))
        params = {"historical": "true"} if historical else {}
        try:
            resp = self._call(
                "POST",
                f"{DETECTORS}/{_id(detector_id)}/results/_topAnomalies",
                f"reading top anomalies of {detector_id}",
                params=params,
                body=body,
                detector_id=detector_id,
            )
        except ServerError as e:
            # The plugin reads each category field's value with a painless script (QueryUtil
            # .getScriptForCategoryField); a cluster without lang-painless answers 500.
            if not NO_PAINLESS.search(server_reason(e.body)):
                raise
            warnings.warn(
                f"reading top anomalies of {detector_id}: the plugin's _topAnomalies needs the lang-painless module, "
                "which this cluster lacks; computing them from the result documents instead",
                stacklevel=2,
            )
            if historical and "task_id" not in body:
                body["task_id"] = self._historical_task(detector_id, None)["task_id"]
            return self._top_from_results(detector_id, body, historical=historical)
        return top_anomalies_frame(resp, category_fields)

    def _top_from_results(self, detector_id: str, body: Mapping[str, Any], *, historical: bool) -> pd.DataFrame:
        """What ``_topAnomalies`` answers (same filters, grouping and order), computed from the results."""
        det = self.get(detector_id)
        return top_from_result_docs(self._result_search(det, custom_only=False), det, body, historical=historical)

    def _result_search(
        self, det: Detector, *, custom_only: bool = True
    ) -> Callable[[dict[str, Any]], Mapping[str, Any]]:
        """A search over the detector's results (its custom result index when it has one); none yet is empty."""
        index = f"{det.result_index}*" if det.result_index else None

        def run(body: dict[str, Any]) -> Mapping[str, Any]:
            try:
                return self.search_results(
                    body, result_index=index, only_custom_result_index=custom_only and bool(index)
                )
            except NotFound:  # no result index yet: no results
                return {"hits": {"total": {"value": 0}, "hits": []}}

        return run

    def _historical_task(self, detector_id: str, task_id: str | None) -> dict[str, Any]:
        """The historical task ``task_id`` of the detector, else its latest one."""
        task = self.get_state(detector_id).historical_task
        if task_id and (task or {}).get("task_id") != task_id:
            found = self.search_tasks({"ids": {"values": [task_id]}}, size=1)
            task = found[0] if found else None
        if not task:
            which = f"historical task {task_id}" if task_id else "no historical analysis"
            raise NotFound(f"top anomalies of {detector_id}: {which} found; run 'hcad detectors history' first")
        return dict(task)

    def search_tasks(
        self,
        query: Mapping[str, Any] | None = None,
        *,
        size: int = 100,
        sort: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Detector tasks (historical runs, real-time tasks) matching ``query``, newest first."""
        body: dict[str, Any] = {
            "query": dict(query or {"match_all": {}}),
            "size": size,
            "sort": list(sort or [{"execution_start_time": {"order": "desc"}}]),
        }
        try:
            resp = self._call("POST", f"{DETECTORS}/tasks/_search", "searching detector tasks", body=body)
        except NotFound:
            return []
        return [dict(h.get("_source") or {}, task_id=h.get("_id")) for h in resp.get("hits", {}).get("hits", [])]

    # ------------------------------------------------------------------ waiting (hcad.ad.waiting)
    def wait_initialized(
        self,
        detector_id: str,
        *,
        entities: float = 1.0,
        min_confidence: float = 0.0,
        timeout: float = 3600,
        poll: float = 10,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Wait until a started detector writes graded results for ``entities`` (a share) of its entities,
        not just until the profile says RUNNING; see :func:`hcad.ad.waiting.wait_initialized`."""
        from hcad.ad import waiting

        return waiting.wait_initialized(
            self,
            detector_id,
            entities=entities,
            min_confidence=min_confidence,
            timeout=timeout,
            poll=poll,
            progress=progress,
            sleep=sleep,
            clock=clock,
        )

    def wait_historical(
        self,
        detector_id: str,
        task_id: str | None = None,
        *,
        timeout: float = 3600,
        poll: float = 5,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Wait until the historical analysis finishes; ``progress(percent, task)`` on each poll.

        Returns the finished task; raises :class:`ServerError` when it failed or was stopped.
        """
        from hcad.ad import waiting

        return waiting.wait_historical(
            self, detector_id, task_id, timeout=timeout, poll=poll, progress=progress, sleep=sleep, clock=clock
        )

    # ------------------------------------------------------------------ pre-flight
    def preflight(self, detector: Detector, **kw: Any) -> Preflight:
        """Check the detector against the live source index (see :func:`preflight`)."""
        if not isinstance(detector, Detector):
            raise ConfigError(f"preflight checks a Detector, not {type(detector).__name__}; get one with resolve(name)")
        return preflight(self.client, detector, **kw)
