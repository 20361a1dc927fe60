"""Detector definition files: find, parse and check them before anything reaches the cluster.

YAML (or JSON) files hold one detector or a list of them (several YAML documents work too). Loading
type-checks every key, names unknown keys with a suggestion and finds duplicates; every problem names
the file and line (``detectors/x.yaml:7: intervl: unknown key (did you mean 'interval'?)``).
:func:`check_definitions` applies the plugin's rules client-side; :func:`preflight_definitions` checks
indices and fields on the live cluster (plain OpenSearch APIs). :mod:`hcad.ad.plan` compares the result
with the server and applies the difference.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hcad.ad.model import Detector, is_api_form
from hcad.errors import Issue, ValidationError

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


def where_key(d: Definition | None, attr: str) -> str:
    """``file:line`` of ``attr`` in a definition (of the definition itself when the key is absent)."""
    if d is None:
        return "(server)"
    node = _source_node(d)
    return f"{d.source}:{_line(node, _issue_steps(attr))}" if node is not None else d.where
