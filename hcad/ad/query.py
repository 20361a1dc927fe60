"""Detector text as the server returns it: filter queries in a canonical form (the server writes back
every query parameter's default, so comparing a definition with the stored detector must drop them), and
descriptions unescaped (the plugin HTML-encodes them once per read).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def unescape_description(text: str) -> str:
    """The description as written, from what the plugin returns.

    ``Config.toXContent`` writes ``Encode.forHtml(description)`` and the stored document is written
    with it, so each read escapes once more: the 2.19.4.0 plugin's create response has ``&amp;``, a
    search hit (the stored source) ``&amp;`` and a GET ``&amp;amp;``. Unescaping until nothing changes
    recovers the text (a description that literally contains ``&amp;`` is read as ``&``).
    """
    for _ in range(16):
        plain = html.unescape(text)
        if plain == text:
            break
        text = plain
    return text


def _is_match_all(q: Mapping[str, Any]) -> bool:
    return (
        list(q) == ["match_all"]
        and isinstance(q["match_all"], Mapping)
        and (not q["match_all"] or dict(q["match_all"]) == {"boost": 1.0})
    )


# Parameters OpenSearch's query builders write back with their default values (toXContent), so a
# detector's filter_query read from the server carries them although the definition did not: seen on
# the 2.19.4.0 plugin (GET detector). Comparing filters drops them from both sides.
_QUERY_DEFAULTS: dict[str, dict[str, Any]] = {
    "bool": {"adjust_pure_negative": True},
    "match": {
        "operator": "OR",
        "prefix_length": 0,
        "max_expansions": 50,
        "fuzzy_transpositions": True,
        "lenient": False,
        "zero_terms_query": "NONE",
        "auto_generate_synonyms_phrase_query": True,
    },
    "match_phrase": {"slop": 0, "zero_terms_query": "NONE"},
    "match_phrase_prefix": {"slop": 0, "max_expansions": 50, "zero_terms_query": "NONE"},
    "query_string": {
        "fields": [],
        "type": "best_fields",
        "default_operator": "or",
        "max_determinized_states": 10000,
        "enable_position_increments": True,
        "fuzziness": "AUTO",
        "fuzzy_prefix_length": 0,
        "fuzzy_max_expansions": 50,
        "phrase_slop": 0,
        "escape": False,
        "auto_generate_synonyms_phrase_query": True,
        "fuzzy_transpositions": True,
    },
    "regexp": {"flags_value": 65535, "max_determinized_states": 10000},
    "nested": {"score_mode": "avg", "ignore_unmapped": False},
}
# Queries whose body is {field: params}; the value the short form {field: value} stands for.
_FIELD_QUERIES = {
    "term": "value",
    "prefix": "value",
    "wildcard": "wildcard",
    "regexp": "value",
    "fuzzy": "value",
    "match": "query",
    "match_phrase": "query",
    "match_phrase_prefix": "query",
}
_BOOL_CLAUSES = ("must", "filter", "should", "must_not")


def canonical_query(q: Any) -> Any:
    """A query in a comparable, still valid, short form: server-filled defaults (``boost: 1.0``,
    ``adjust_pure_negative``, match options, ...) dropped, ``range`` as ``gte``/``lt``/..., field
    queries as ``{field: value}`` when nothing else is set, bool clauses as lists."""
    if isinstance(q, list):
        return [canonical_query(x) for x in q]
    if not isinstance(q, Mapping):
        return q
    out: dict[str, Any] = {}
    for kind, body in q.items():
        if not isinstance(body, Mapping):
            out[kind] = body
            continue
        body = {k: v for k, v in body.items() if not (k == "boost" and v == 1.0)}
        defaults = _QUERY_DEFAULTS.get(kind, {})
        if kind in _FIELD_QUERIES or kind == "range":
            fields_: dict[str, Any] = {}
            for fname, params in body.items():
                if not isinstance(params, Mapping):
                    fields_[fname] = params
                    continue
                params = {
                    k: v
                    for k, v in params.items()
                    if not (k == "boost" and v == 1.0) and not (k in defaults and defaults[k] == v)
                }
                if kind == "range":
                    params = _canonical_range(params)
                else:
                    key = _FIELD_QUERIES[kind]
                    if kind == "wildcard" and "value" in params and "wildcard" not in params:
                        params["wildcard"] = params.pop("value")
                    if list(params) == [key]:
                        fields_[fname] = params[key]
                        continue
                fields_[fname] = params
            out[kind] = fields_
            continue
        body = {k: v for k, v in body.items() if not (k in defaults and defaults[k] == v)}
        if kind == "bool":
            for clause in _BOOL_CLAUSES:
                if clause in body:
                    v = body[clause]
                    items = v if isinstance(v, list) else [v]
                    if items:
                        body[clause] = [canonical_query(x) for x in items]
                    else:
                        del body[clause]
            if "minimum_should_match" in body and body["minimum_should_match"] is not None:
                body["minimum_should_match"] = str(body["minimum_should_match"])
        elif kind in ("nested", "constant_score", "boosting", "dis_max", "function_score"):
            body = {k: canonical_query(v) if k in ("query", "filter", "queries") else v for k, v in body.items()}
        out[kind] = body
    return out


def _canonical_range(params: Mapping[str, Any]) -> dict[str, Any]:
    """``from``/``to``/``include_lower``/``include_upper`` (how the server writes a range) as gt/gte/lt/lte."""
    out = {k: v for k, v in params.items() if k not in ("from", "to", "include_lower", "include_upper")}
    if "from" in params or "to" in params:
        if params.get("from") is not None:
            out["gte" if params.get("include_lower", True) else "gt"] = params["from"]
        if params.get("to") is not None:
            out["lte" if params.get("include_upper", True) else "lt"] = params["to"]
    return out
