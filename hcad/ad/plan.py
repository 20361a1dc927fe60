"""Detectors as code: load YAML definitions, compare them with the server, apply the difference.

The flow ``hcad detectors plan|apply`` runs, usable from Python too::

    defs = load_definitions(["detectors/"])          # parse, type-check, unknown keys, duplicates
    check_definitions(defs)                          # the plugin's rules, client-side
    issues, warnings = preflight_definitions(client, defs)   # indices and fields on the live cluster
    plan = fetch_plan(client.ad, defs)               # create / update / unchanged / only on server
    report = apply_plan(client.ad, plan, restart=False)

Every problem found while loading or checking names the file and line (``detectors/x.yaml:7:
intervl: unknown key (did you mean 'interval'?)``). :func:`apply_plan` checks everything before
changing anything: if one definition is invalid, one update is blocked (a running detector without
``restart``, an immutable field changed), nothing is sent. A second apply of the same files finds
nothing to do. Detectors that exist only on the server are reported and never touched.

Only the YAML loading and the plan itself are pure; :func:`fetch_plan`, :func:`apply_plan` and
:func:`preflight_definitions` talk to the cluster.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hcad.ad.model import IMMUTABLE_ATTRS, Detector, is_api_form
from hcad.errors import Conflict, HcadError, Issue, ValidationError

if TYPE_CHECKING:
    from hcad.ad.client import AnomalyDetection

YAML_SUFFIXES = (".yaml", ".yml")
FILE_SUFFIXES = (*YAML_SUFFIXES, ".json")

# Keys of the YAML form (Detector.from_dict) and the Python types each accepts. Checked before
# Detector.from_dict, which trusts the types it is given.
_STR = (str,)
_INT = (int,)
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "name": _STR,
    "description": _STR,
    "indices": (str, list),
    "index": (str, list),
    "time_field": _STR,
    "interval": (str, int),
    "window_delay": (str, int),
    "category_fields": (list,),
    "filter": (dict,),
    "shingle_size": _INT,
    "features": (dict, list),
    "result_index": _STR,
    "result_index_min_size": _INT,
    "result_index_min_age": _INT,
    "result_index_ttl": _INT,
    "flatten_custom_result_index": (bool,),
    "recency_emphasis": _INT,
    "history": _INT,
    "suggested_seasonality": _INT,
    "frequency": (str, int),
    "imputation": (dict,),
    "rules": (list,),
    "ui_metadata": (dict,),
    "extra": (dict,),
    "id": _STR,
}
_TYPE_WORDS = {str: "text", int: "a whole number", list: "a list", dict: "a mapping", bool: "true or false"}
_EXAMPLES = {
    "interval": 'interval: "10m"',
    "window_delay": 'window_delay: "2m"',
    "frequency": 'frequency: "1h"',
    "shingle_size": "shingle_size: 8",
    "category_fields": "category_fields: [host, process]",
    "indices": "indices: [my-index]",
    "features": "features: {cpu_avg: {agg: avg, field: cpu}}",
    "filter": "filter: {term: {env: prod}}",
}


# --------------------------------------------------------------------------- loading
@dataclass
class Definition:
    """One detector read from a file: the detector, the file and the line its definition starts on."""

    detector: Detector
    source: str
    line: int = 1

    @property
    def name(self) -> str:
        """The detector's name."""
        return self.detector.name

    @property
    def where(self) -> str:
        """``file:line`` of the definition."""
        return f"{self.source}:{self.line}"


def definition_files(paths: Iterable[str | Path]) -> list[Path]:
    """The YAML/JSON files named by ``paths``: files as given, directories searched recursively (sorted).

    Hidden files and directories are skipped. Raises :class:`ValidationError` for a path that does
    not exist or a directory holding no definition.
    """
    out: list[Path] = []
    issues: list[Issue] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in YAML_SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                issues.append(Issue(str(p), "holds no .yaml or .yml file", "point at detector definitions"))
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            issues.append(Issue(str(p), "does not exist", "check the path"))
    if issues:
        raise ValidationError(issues)
    # The same file named twice (dir and file) is read once.
    seen: set[Path] = set()
    unique = []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def load_definitions(paths: Iterable[str | Path]) -> list[Definition]:
    """Read every detector under ``paths`` (one per file, a list, or several YAML documents).

    A definition may also be the plugin's JSON body (``feature_attributes``, ``detection_interval``,
    ...) or a whole ``GET`` response, as found in the docs or exported from a cluster.

    Raises one :class:`ValidationError` listing every problem in every file, each as
    ``file:line: key: message (fix)``: invalid YAML, wrong types, unknown keys (with the closest
    known key), missing keys, and two definitions with one name.
    """
    defs: list[Definition] = []
    issues: list[Issue] = []
    for f in definition_files(paths):
        d, i = load_file(f)
        defs.extend(d)
        issues.extend(i)
    issues.extend(duplicate_issues(defs))
    if issues:
        raise ValidationError(issues)
    return defs


def load_file(path: str | Path) -> tuple[list[Definition], list[Issue]]:
    """Definitions in one file, and the problems found in it (each naming ``file:line``)."""
    import yaml

    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        return [], [Issue(src, f"cannot read ({reason})", "check the file")]
    try:
        docs = _json_docs(text, src) if _looks_like_json(text, src) else _compose_all(text)
    except json.JSONDecodeError as e:
        return [], [Issue(f"{src}:{e.lineno}", f"not valid JSON: {e.msg}", "fix the syntax")]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        return [], [Issue(f"{src}:{line}", f"not valid YAML: {problem}", "fix the syntax")]
    defs: list[Definition] = []
    issues: list[Issue] = []
    items: list[tuple[Any, Any]] = []
    for data, node in docs:
        if data is None:
            continue
        if isinstance(data, list):
            items.extend(zip(data, node.value, strict=True))
        else:
            items.append((data, node))
    if not items:
        issues.append(Issue(f"{src}:1", "defines no detector", "write a detector mapping or a list of them"))
    for data, node in items:
        line = node.start_mark.line + 1
        where = f"{src}:{line}"
        if not isinstance(data, dict):
            issues.append(
                Issue(where, f"expected a detector mapping, got {_type_word(data)}", "see detectors/README.md")
            )
            continue
        # A plugin JSON body (copied from the docs or a GET) is read by the model's JSON parser.
        found = [] if is_api_form(data) else _definition_issues(data, node, src)
        if found:
            issues.extend(found)
            continue
        try:
            det = Detector.from_dict(data)
        except ValidationError as e:
            issues.extend(_locate(e.issues, node, src))
            continue
        except (TypeError, ValueError) as e:  # a shape from_dict does not expect; still one line
            issues.append(Issue(where, f"cannot read the detector ({e})", "see detectors/README.md"))
            continue
        defs.append(Definition(det, src, line))
    return defs, issues


def _compose_all(text: str) -> list[tuple[Any, Any]]:
    """``(data, node)`` for each YAML document: the values and the node tree with line numbers."""
    import yaml

    loader = yaml.SafeLoader(text)
    out = []
    try:
        while loader.check_node():
            node = loader.get_node()
            out.append((loader.construct_document(node), node))
    finally:
        loader.dispose()
    return out


def _looks_like_json(text: str, src: str) -> bool:
    return src.lower().endswith(".json") or text.lstrip().startswith(("{", "["))


def _json_docs(text: str, src: str) -> list[tuple[Any, Any]]:
    """A JSON file as one document. Read by ``json`` (YAML 1.1 reads ``1e5`` as text and refuses tabs);
    the YAML node tree of the same text, tabs made spaces, only gives line numbers."""
    import yaml

    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        if src.lower().endswith(".json"):
            raise
        return _compose_all(text)  # YAML that starts with a flow mapping
    try:
        nodes = _compose_all(text.replace("\t", " "))  # a tab is never inside a JSON string
        node = nodes[0][1]
    except (yaml.YAMLError, IndexError):
        node = None
    if node is None or (isinstance(data, list) and len(getattr(node, "value", [])) != len(data)):
        mark = yaml.Mark(src, 0, 0, 0, None, 0)
        node = yaml.ScalarNode("tag:yaml.org,2002:str", "", start_mark=mark, end_mark=mark)
        if isinstance(data, list):
            node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node] * len(data), start_mark=mark, end_mark=mark)
    return [(data, node)]


def _type_word(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"{str(v).lower()} (true/false)"
    for t, word in _TYPE_WORDS.items():
        if isinstance(v, t):
            return f"{v!r} ({word})" if t in (str, int, float) else word
    if isinstance(v, float):
        return f"{v!r} (a decimal number)"
    return type(v).__name__


def _definition_issues(data: Mapping[str, Any], node: Any, src: str) -> list[Issue]:
    """Wrong types, duplicate keys and unknown keys of one definition (before Detector.from_dict)."""
    issues: list[Issue] = []
    for key, line in _duplicate_keys(node):
        issues.append(Issue(f"{src}:{line}: {key}", "appears twice in this mapping", "keep one"))
    for key, value in data.items():
        line = _line(node, [key])
        if key not in KEY_TYPES:
            close = difflib.get_close_matches(str(key), sorted(KEY_TYPES), n=1, cutoff=0.6)
            fix = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(KEY_TYPES))}"
            issues.append(Issue(f"{src}:{line}: {key}", "unknown key", fix))
            continue
        if value is None:
            continue  # an empty key means "unset"; required keys are reported by from_dict
        allowed = KEY_TYPES[key]
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            want = " or ".join(_TYPE_WORDS[t] for t in allowed)
            fix = f"write e.g. {_EXAMPLES[key]}" if key in _EXAMPLES else f"give {want}"
            issues.append(Issue(f"{src}:{line}: {key}", f"expected {want}, got {_type_word(value)}", fix))
            continue
        if key in ("indices", "index", "category_fields") and isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    issues.append(
                        Issue(
                            f"{src}:{_line(node, [key, i])}: {key}[{i}]",
                            f"expected a field or index name, got {_type_word(item)}",
                            "write names as text",
                        )
                    )
    return issues


def _duplicate_keys(node: Any) -> Iterator[tuple[str, int]]:
    """Keys repeated within one mapping, anywhere in the tree (YAML silently keeps the last)."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = str(getattr(k, "value", k))
            if key in seen:
                yield key, k.start_mark.line + 1
            seen.add(key)
            yield from _duplicate_keys(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from _duplicate_keys(v)


def _line(node: Any, path: Sequence[str | int]) -> int:
    """Line (1-based) of the deepest node of ``path`` that exists under ``node``."""
    import yaml

    line = node.start_mark.line + 1
    for step in path:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if str(getattr(k, "value", "")) == str(step):
                    nxt, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            nxt = node.value[step]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def _issue_steps(path: str) -> list[str | int]:
    """``features.cpu.agg`` / ``rules[0].conditions[1]`` → YAML path steps (attribute names mapped to keys)."""
    steps: list[str | int] = []
    for part in path.replace("]", "").split("."):
        name, *idx = part.split("[")
        if name:
            steps.append({"category_field": "category_fields", "filter_query": "filter"}.get(name, name))
        steps.extend(int(i) for i in idx if i.isdigit())
    return steps


def _locate(issues: Iterable[Issue], node: Any, src: str) -> list[Issue]:
    """Prefix each issue's path with ``file:line`` of the key it is about."""
    out = []
    for i in issues:
        line = _line(node, _issue_steps(i.path)) if i.path else node.start_mark.line + 1
        path = f"{src}:{line}: {i.path}" if i.path else f"{src}:{line}"
        out.append(Issue(path, i.message, i.fix))
    return out


def duplicate_issues(defs: Sequence[Definition]) -> list[Issue]:
    """One issue per definition whose name was already defined elsewhere."""
    first: dict[str, Definition] = {}
    out = []
    for d in defs:
        if d.name in first:
            out.append(
                Issue(
                    f"{d.where}: name",
                    f"detector {d.name!r} is also defined at {first[d.name].where}",
                    "give each detector its own name, or remove one definition",
                )
            )
        else:
            first[d.name] = d
    return out


def _source_node(d: Definition) -> Any:
    """The YAML node of a definition, read again (only used to place validation issues on lines)."""
    try:
        docs = _compose_all(Path(d.source).read_text(encoding="utf-8"))
    except Exception:
        return None
    for _, node in docs:
        candidates = node.value if hasattr(node, "value") and isinstance(node.value, list) else [node]
        for n in [node, *candidates]:
            if getattr(n, "start_mark", None) is not None and n.start_mark.line + 1 == d.line:
                return n
    return None


def check_definitions(
    defs: Sequence[Definition],
    *,
    server_version: Sequence[int] | None = None,
    **limits: Any,
) -> None:
    """Apply the plugin's rules to every definition; raise one :class:`ValidationError` naming file and line."""
    issues: list[Issue] = []
    for d in defs:
        found = d.detector.validate(server_version=server_version, **limits)
        if not found:
            continue
        node = _source_node(d)
        if node is None:
            issues.extend(Issue(f"{d.where}: {i.path}" if i.path else d.where, i.message, i.fix) for i in found)
        else:
            issues.extend(_locate(found, node, d.source))
    if issues:
        raise ValidationError(issues)


def preflight_definitions(client: Any, defs: Sequence[Definition]) -> tuple[list[Issue], list[Issue]]:
    """Check each definition against the live source indices (plain OpenSearch APIs, no plugin needed).

    Returns ``(blocking issues, warnings)``, each naming the definition's ``file:line`` and detector.
    Blocking: a source index or a field missing from the mappings, or of the wrong type.
    """
    from hcad.ad.preflight import preflight

    issues: list[Issue] = []
    warnings: list[Issue] = []
    for d in defs:
        report = preflight(client, d.detector)
        issues.extend(_placed(d, report.issues))
        warnings.extend(_placed(d, report.warnings))
    return issues, warnings


def _placed(d: Definition, found: Sequence[Issue]) -> list[Issue]:
    """Issues about one definition, as ``file:line: detector: field: message``."""
    if not found:
        return []
    node = _source_node(d)
    out = []
    for i in found:
        line = _line(node, _issue_steps(i.path)) if node is not None and i.path else d.line
        out.append(Issue(f"{d.source}:{line}: {d.name}: {i.path}" if i.path else d.where, i.message, i.fix))
    return out


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
                    f"{_where(c.definition, attr)}: {c.name}: {attr}",
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


def _where(d: Definition | None, attr: str) -> str:
    """``file:line`` of ``attr`` in a definition (of the definition itself when the key is absent)."""
    if d is None:
        return "(server)"
    node = _source_node(d)
    return f"{d.source}:{_line(node, _issue_steps(attr))}" if node is not None else d.where


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
