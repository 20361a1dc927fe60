"""What hcad does differently on the two OpenSearch lines it is tested on (2.19 and 3.3), offline.

The live counterparts run in both legs of .ci/run (tests marked ``compat``); these pin the rules with
the plugin's shapes: ``_suggest`` answers (seen on a 3.3.2 node), and the sizing of long-interval
detectors that the 3.2+ plugin does not cache.
"""

from __future__ import annotations

import pytest
from test_ad import D, Server, detector, make_client

from hcad.ad.answers import Suggestion
from hcad.errors import ServerError, UnsupportedFeature
from hcad.sizing import model_size as ms
from hcad.sizing.plan import SizingPlan
from hcad.sizing.report import evaluate


def test_suggestion_reads_the_plugins_answer() -> None:
    # A 3.3.2 node's answer to _suggest/detection_interval,history,window_delay (three days of 5-minute data).
    s = Suggestion.from_response(
        {
            "interval": {"period": {"interval": 5, "unit": "Minutes"}},
            "history": 863,
            "windowDelay": {"period": {"interval": 2, "unit": "Minutes"}},
        }
    )
    assert str(s.interval) == "5m" and s.history == 863 and str(s.window_delay) == "2m"
    assert s.history_minutes == 863 * 5
    assert s.to_dict() == {"interval": "5m", "history": 863, "history_minutes": 4315, "window_delay": "2m"}
    assert Suggestion.from_response({"windowDelay": {"period": {"interval": 1, "unit": "Minutes"}}}).history is None


def test_suggest_is_refused_on_2_19_before_any_request() -> None:
    server = Server(version="2.19.4")
    with pytest.raises(UnsupportedFeature, match=r"\(2\.19\.4\); it needs 3\.3\.0\+"):
        make_client(server).ad.suggestion(detector())
    assert server.ad_calls() == []


def test_suggest_without_data_names_what_the_plugin_reads() -> None:
    server = Server(version="3.3.2")
    reason = "Fail to suggest parameters Exceptions: [Empty data. Cannot find a good interval.]"
    server.route(
        "POST",
        f"{D}/_suggest/detection_interval",
        {"error": {"root_cause": [{"type": "runtime_exception", "reason": reason}], "type": "runtime_exception",
                   "reason": reason}, "status": 500},
        status=500,
    )  # fmt: skip
    with pytest.raises(ServerError) as e:
        make_client(server).ad.suggestion(detector(), ["detection_interval"])
    assert "the plugin found nothing to suggest from (Empty data. Cannot find a good interval.)" in str(e.value)


@pytest.mark.parametrize(
    ("version", "interval", "cached"),
    [("2.19", 60, True), ("3.1", 120, True), ("3.2", 59, True), ("3.2", 60, False), ("3.3", 1440, False)],
)
def test_models_of_long_interval_detectors_are_not_cached_from_3_2(version: str, interval: int, cached: bool) -> None:
    assert ms.caches_models(version, interval) is cached


def _plan(version: str, interval: str) -> SizingPlan:
    return SizingPlan.from_dict(
        {
            "name": "v",
            "plugin_version": version,
            "node": {"heap": "8GiB", "model_max_size_percent": 0.1},
            "detectors": [
                {"name": "fast", "entities": 1000, "interval": "10m", "features": 1},
                {"name": "hourly", "entities": 50000, "interval": interval, "features": 1},
            ],
        }
    )


def test_sizing_follows_the_version_for_hourly_detectors() -> None:
    on_2_19, on_3_3 = evaluate(_plan("2.19", "1h")), evaluate(_plan("3.3", "1h"))
    hourly_2, hourly_3 = on_2_19.detectors[1], on_3_3.detectors[1]
    assert hourly_2.used == 50000 and hourly_3.used == 0
    assert "from 3.2 the plugin keeps no model of such a detector in memory" in hourly_3.reason
    assert on_3_3.total_entities == 1000 < on_2_19.total_entities == 51000
    assert on_3_3.data_nodes <= on_2_19.data_nodes
    # The estimator and the memory ceiling are the 2.15+ ones on both lines (MemoryTracker unchanged).
    assert hourly_2.model_size == hourly_3.model_size
    assert ms.percent_range("3.3") == ms.percent_range("2.19") == (0.0, 0.9)
    assert ms.max_shingle_size("3.3") == 128
    # Below an hour nothing changes.
    assert evaluate(_plan("3.3", "30m")).total_entities == evaluate(_plan("2.19", "30m")).total_entities


def test_frequency_is_3_3_only_and_a_multiple_of_the_interval() -> None:
    from hcad.ad.model import Detector

    base = {"name": "x", "time_field": "t", "indices": ["i"], "interval": "10m",
            "features": {"c": {"agg": "avg", "field": "cpu"}}}  # fmt: skip
    det = Detector.from_dict({**base, "frequency": "1h"})
    assert det.to_request()["frequency"] == {"period": {"interval": 60, "unit": "Minutes"}}
    assert det.validate() == [] and det.unsupported_by((3, 3, 2)) == []
    # 2.19's parser skips the key: the detector would silently run every interval, so hcad refuses it.
    (issue,) = det.unsupported_by((2, 19, 4))
    assert issue.path == "frequency" and "needs OpenSearch 3.3.0+" in issue.message
    assert [i.path for i in Detector.from_dict({**base, "frequency": "25m"}).validate()] == ["frequency"]
    assert (
        Detector.from_dict({**base, "interval": "1m", "frequency": "10001m"})
        .validate()[0]
        .message.startswith("10001m is 10001 intervals")
    )
    assert Detector.from_api(det.to_api()) == det and Detector.from_yaml(det.to_yaml()) == det


def test_frequency_is_refused_before_a_request_to_2_19() -> None:
    from hcad.ad.parts import Interval

    server = Server(version="2.19.4")
    det = detector()
    det.frequency = Interval.parse("20m", "frequency")
    with pytest.raises(UnsupportedFeature, match="frequency"):
        make_client(server).ad.create(det)
    assert server.ad_calls() == []
