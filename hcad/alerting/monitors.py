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
      threshold);
    * P2 (severity 2): ``low`` <= max grade < ``high`` (default ``low`` 0.3 with a confidence floor of
      0.9: the alerting thresholds chosen with the detector defaults on tuning fleets, checked on
      held-out ones; ``hcad.ad.limits``).

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


This module gathers the names of :mod:`~hcad.alerting.spec`, :mod:`~hcad.alerting.builders`,
:mod:`~hcad.alerting.client`, :mod:`~hcad.alerting.plan` and :mod:`~hcad.alerting.run` in one import.
"""

from __future__ import annotations

from hcad.alerting.builders import (  # noqa: F401
    build_monitor,
    dashboards_condition,
    dashboards_message,
    diff,
    entities_message,
    entities_query,
    fingerprint,
    is_ad_monitor,
    monitor_interval_minutes,
    result_indices,
    tier_condition,
)
from hcad.alerting.client import (  # noqa: F401
    MONITORS,
    NOTIFICATIONS,
    NOTIFICATIONS_CONFIGS,
    NOTIFICATIONS_DOCS,
    UI_METADATA_USER_AGENT,
    Alerting,
    DetectorLookup,
    Notifications,
    ad_lookup,
    channel_issue,
)
from hcad.alerting.plan import (  # noqa: F401
    ChannelPlanItem,
    Plan,
    PlanItem,
    apply,
    plan,
)
from hcad.alerting.run import (  # noqa: F401
    RunReport,
    TriggerOutcome,
    preview_body,
    run,
    run_report,
)
from hcad.alerting.spec import (  # noqa: F401
    AD_RESULT_INDEX,
    CHANNEL_COMMON_KEYS,
    CHANNEL_TYPES,
    CHANNELS_KEY,
    DEFAULT_CONFIDENCE,
    DEFAULT_HIGH,
    DEFAULT_LOW,
    DEFAULT_TOP,
    IAM_ROLE_ARN_RE,
    KINDS,
    MAX_TOP,
    P1_SEVERITY,
    P2_SEVERITY,
    PREVIEW_DESTINATION,
    RESULT_LAG_MINUTES,
    RESULT_MODES,
    SNS_TOPIC_ARN_RE,
    SPEC_KEYS,
    THRESHOLD_KEYS,
    WEBHOOK_METHODS,
    ChannelSpec,
    MonitorSpec,
    Specs,
    channel_diff,
    load_specs,
)
