"""Detectors as code: load YAML definitions, compare them with the server, apply the difference.

The flow ``hcad detectors plan|apply`` runs, usable from Python too::

    defs = load_definitions(["detectors/"])          # hcad.ad.definitions: parse, type-check, duplicates
    check_definitions(defs)                          # hcad.ad.definitions: the plugin's rules, client-side
    issues, warnings = preflight_definitions(client, defs)   # indices and fields on the live cluster
    plan = fetch_plan(client.ad, defs)               # create / update / unchanged / only on server
    report = apply_plan(client.ad, plan, restart=False)

Every problem found while loading or checking names the file and line (``detectors/x.yaml:7:
intervl: unknown key (did you mean 'interval'?)``). :func:`apply_plan` checks everything before
changing anything: if one definition is invalid, one update is blocked (a running detector without
``restart``, an immutable field changed), nothing is sent. A second apply of the same files finds
nothing to do. Detectors that exist only on the server are reported and never touched.

Loading files and the plan itself are pure; :func:`fetch_plan`, :func:`apply_plan` and
:func:`~hcad.ad.definitions.preflight_definitions` talk to the cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hcad.ad.definitions import Definition, where_key
from hcad.ad.model import IMMUTABLE_ATTRS, Detector
from hcad.errors import Conflict, HcadError, Issue, ValidationError

if TYPE_CHECKING:
    from hcad.ad.client import AnomalyDetection

# --------------------------------------------------------------------------- the plan
CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
ONLY_ON_SERVER = "only_on_server"
ACTIONS = (CREATE, UPDATE, UNCHANGED, ONLY_ON_SERVER)
_SYMBOL = {CREATE: "+", UPDATE: "~", UNCHANGED: "=", ONLY_ON_SERVER: "?"}
_LABEL = {CREATE: "create", UPDATE: "update", UNCHANGED: "unchanged", ONLY_ON_SERVER: "only on server"}


@dataclass
class Change:
    """What applying one definition (or not having one) does to one detector."""

    action: str
    name: str
    definition: Definition | None = None
    server: Detector | None = None
    diff: list[str] = field(default_factory=list)
    realtime_running: bool = False
    historical_running: bool = False

    @property
    def detector_id(self) -> str | None:
        """The server detector's id, when it exists."""
        return self.server.id if self.server is not None else None

    @property
    def immutable_changes(self) -> list[str]:
        """Diff lines about fields the plugin refuses to change on an existing detector."""
        return [line for line in self.diff if line.split(":", 1)[0] in IMMUTABLE_ATTRS]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {"action": self.action, "name": self.name, "id": self.detector_id}
        if self.definition is not None:
            out["source"] = self.definition.where
        if self.diff:
            out["diff"] = list(self.diff)
        if self.action == UPDATE:
            out["realtime_running"] = self.realtime_running
            out["historical_running"] = self.historical_running
        return out


@dataclass
class Plan:
    """Every change applying the definitions would make, in a stable order."""

    changes: list[Change]

    def of(self, action: str) -> list[Change]:
        """The changes with this action."""
        return [c for c in self.changes if c.action == action]

    @property
    def counts(self) -> dict[str, int]:
        """Number of changes per action."""
        return {a: len(self.of(a)) for a in ACTIONS}

    @property
    def has_changes(self) -> bool:
        """True when applying would create or update something."""
        return bool(self.of(CREATE) or self.of(UPDATE))

    def summary(self) -> str:
        """One line: what applying would do."""
        c = self.counts
        if not self.has_changes:
            return (
                f"No changes: {c[UNCHANGED]} detector(s) match the server"
                + (f"; {c[ONLY_ON_SERVER]} only on the server (left alone)" if c[ONLY_ON_SERVER] else "")
                + "."
            )
        return (
            f"Plan: {c[CREATE]} to create, {c[UPDATE]} to update, {c[UNCHANGED]} unchanged, "
            f"{c[ONLY_ON_SERVER]} only on the server (left alone)."
        )

    def render(self, *, show_unchanged: bool = True) -> str:
        """A readable diff: one line per detector, the changed fields of each update below it."""
        lines = []
        for c in self.changes:
            if c.action == UNCHANGED and not show_unchanged:
                continue
            where = f"  ({c.definition.where})" if c.definition else f"  (id {c.detector_id})"
            note = ""
            if c.action == UPDATE and c.realtime_running:
                note = "  [running: updated only with --restart]"
            if c.action == UPDATE and c.historical_running:
                note = "  [historical analysis running: wait for it or stop it]"
            lines.append(f"{_SYMBOL[c.action]} {_LABEL[c.action]:<15} {c.name}{where}{note}")
            for d in c.diff:
                field_name, _, rest = d.partition(": ")
                fixed = "  (cannot change: recreate)" if field_name in IMMUTABLE_ATTRS else ""
                lines.append(f"      {field_name}: {rest}{fixed}")
        lines.append(self.summary())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "changes": [c.to_dict() for c in self.changes],
            "counts": self.counts,
            "has_changes": self.has_changes,
        }


def make_plan(
    defs: Sequence[Definition],
    server: Sequence[Detector],
    running: Mapping[str, tuple[bool, bool]] | None = None,
) -> Plan:
    """Compare definitions with server detectors (pure).

    A definition matches the server detector with its ``id`` when it gives one, else the one with
    its name. ``running`` maps detector ids to ``(real-time running, historical running)``. Diff
    lines read ``field: <server value> -> <definition value>``; fields the definition leaves unset
    and the server holds at the plugin's default are not changes.
    """
    running = running or {}
    by_id = {d.id: d for d in server if d.id}
    by_name: dict[str, Detector] = {}
    for d in server:
        by_name.setdefault(d.name, d)
    matched: set[str] = set()
    changes: list[Change] = []
    for df in defs:
        want = df.detector
        have = by_id.get(want.id) if want.id else None
        if have is None:
            have = by_name.get(want.name)
            if want.id and have is None:
                raise ValidationError(
                    [Issue(f"{df.where}: id", f"no detector has the id {want.id!r}", "remove the id to create it")]
                )
        if have is None:
            changes.append(Change(CREATE, want.name, df, diff=[]))
            continue
        if have.id:
            matched.add(have.id)
        diff = have.diff(want)
        rt, hist = running.get(have.id or "", (False, False))
        action = UPDATE if diff else UNCHANGED
        changes.append(Change(action, want.name, df, have, diff, rt, hist))
    for d in sorted(server, key=lambda x: x.name):
        if d.id not in matched:
            rt, hist = running.get(d.id or "", (False, False))
            changes.append(Change(ONLY_ON_SERVER, d.name, None, d, [], rt, hist))
    return Plan(changes)


def fetch_plan(ad: AnomalyDetection, defs: Sequence[Definition]) -> Plan:
    """Read the server's detectors (and the state of those that would be updated) and plan."""
    server = ad.search()
    plan = make_plan(defs, server)
    running: dict[str, tuple[bool, bool]] = {}
    fresh: dict[str, Detector] = {}
    for c in plan.of(UPDATE):
        assert c.detector_id is not None
        state = ad.get_state(c.detector_id)
        running[c.detector_id] = (state.realtime_running, state.historical_running)
        fresh[c.detector_id] = state.detector  # current seq_no/primary_term for the conditional update
    if not running:
        return plan
    server = [fresh.get(d.id or "", d) for d in server]
    return make_plan(defs, server, running)


# --------------------------------------------------------------------------- applying
@dataclass
class Step:
    """One request apply made (or would make)."""

    action: str  # create | update | stop | start
    name: str
    detector_id: str | None = None

    def __str__(self) -> str:
        return f"{self.action} {self.name}" + (f" ({self.detector_id})" if self.detector_id else "")


@dataclass
class ApplyReport:
    """What :func:`apply_plan` did, in order; ``stopped`` lists detectors stopped and not yet restarted."""

    plan: Plan
    steps: list[Step] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when something was created or updated."""
        return any(s.action in (CREATE, UPDATE) for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "changed": self.changed,
            "steps": [{"action": s.action, "name": s.name, "id": s.detector_id} for s in self.steps],
            "plan": self.plan.to_dict(),
        }


def blocking_problems(plan: Plan, *, restart: bool) -> list[HcadError]:
    """Why the plan cannot be applied as it is (empty when it can): immutable fields, running detectors."""
    immutable = []
    running = []
    historical = []
    for c in plan.of(UPDATE):
        for line in c.immutable_changes:
            attr = line.split(":", 1)[0]
            immutable.append(
                Issue(
                    f"{where_key(c.definition, attr)}: {c.name}: {attr}",
                    f"cannot change on an existing detector ({line.split(': ', 1)[1]})",
                    f"keep the server's value, or delete {c.name} ('hcad detectors delete {c.name}') and apply "
                    f"again, or give the definition a new name",
                )
            )
        if c.historical_running:
            historical.append(c.name)
        elif c.realtime_running and not restart:
            running.append(c.name)
    out: list[HcadError] = []
    if immutable:
        out.append(ValidationError(immutable))
    if historical:
        out.append(
            Conflict(
                f"historical analysis is running for {', '.join(historical)}; nothing was changed. Wait for it "
                f"('hcad detectors history NAME --attach') or stop it ('hcad detectors stop NAME --historical'), "
                f"then apply again"
            )
        )
    if running:
        out.append(
            Conflict(
                f"{', '.join(running)} {'is' if len(running) == 1 else 'are'} running and would be updated; nothing "
                f"was changed. Apply again with --restart (stop, update, start) or stop "
                f"{'it' if len(running) == 1 else 'them'} first ('hcad detectors stop NAME')"
            )
        )
    return out


def server_validate(ad: AnomalyDetection, plan: Plan) -> list[Issue]:
    """The plugin's own validation (``_validate/detector``) of every detector to create or update."""
    issues: list[Issue] = []
    for c in (*plan.of(CREATE), *plan.of(UPDATE)):
        assert c.definition is not None
        det = c.definition.detector.copy()
        if c.action == UPDATE:
            # The plugin's validation stops at its first failure and checks early that the name is
            # free; the detector being updated holds it, so validate under a name nobody uses.
            det.name = f"hcad-validate-{uuid.uuid4().hex[:12]}"
        for i in ad.validate(det, kind="detector"):
            msg = i.message.replace(det.name, c.name)
            issues.append(Issue(f"{c.definition.where}: {c.name}: {i.path}", msg, i.fix))
    return issues


def apply_plan(
    ad: AnomalyDetection,
    plan: Plan,
    *,
    restart: bool = False,
    validate: bool = True,
    on_step: Callable[[Step], None] | None = None,
    report: ApplyReport | None = None,
) -> ApplyReport:
    """Create and update detectors so the server matches the definitions.

    Nothing is sent when the plan is blocked (see :func:`blocking_problems`) or, with ``validate``,
    when the plugin's validation finds a problem in any definition. Running detectors are updated
    only with ``restart``: stop, update, start. ``on_step`` is told about each request before it is
    sent. ``report`` (filled in as steps complete) lets a caller interrupted midway say what was done.
    """
    problems = blocking_problems(plan, restart=restart)
    if problems:
        raise problems[0]
    if validate:
        issues = server_validate(ad, plan)
        if issues:
            raise ValidationError(issues)
    report = report if report is not None else ApplyReport(plan)
    report.plan = plan

    def step(s: Step) -> None:
        if on_step:
            on_step(s)

    for c in plan.of(CREATE):
        assert c.definition is not None
        s = Step(CREATE, c.name)
        step(s)
        created = ad.create(c.definition.detector.copy())
        s.detector_id = created.id
        report.steps.append(s)
    for c in plan.of(UPDATE):
        assert c.definition is not None and c.server is not None and c.detector_id is not None
        det_id = c.detector_id
        if c.realtime_running:
            s = Step("stop", c.name, det_id)
            step(s)
            ad.stop(det_id)
            report.stopped.append(c.name)
            report.steps.append(s)
        s = Step(UPDATE, c.name, det_id)
        step(s)
        ad.update(
            det_id,
            c.definition.detector.copy(),
            if_seq_no=c.server.seq_no,
            if_primary_term=c.server.primary_term,
        )
        report.steps.append(s)
        if c.realtime_running:
            s = Step("start", c.name, det_id)
            step(s)
            ad.start(det_id)
            report.stopped.remove(c.name)
            report.steps.append(s)
    return report
