"""``hcad entities``: distinct entities and the maximum active per interval in an index."""

from __future__ import annotations

import sys
from typing import Any

import click

from hcad.cli.common import CliContext, echo_json, json_option, pass_cli


@click.command("entities")
@click.argument("index")
@click.option("--field", "-f", "fields", multiple=True, required=True, help="Category field (repeat for 2).")
@click.option("--interval", default="10m", show_default=True, help="Detector interval: minutes or 10m, 1h.")
@click.option("--time-field", default="@timestamp", show_default=True, help="Timestamp field.")
@click.option("--from", "start", help="Range start (ISO date, epoch ms or now-7d).")
@click.option("--to", "end", help="Range end, exclusive (ISO date, epoch ms or now).")
@click.option("--exact", is_flag=True, help="Exact active counts by composite paging (slower; > 40,000 per interval).")
@click.option("--page-size", default=10_000, show_default=True, help="Composite page size.")
@json_option
@pass_cli
def entities(
    cli: CliContext,
    index: str,
    fields: tuple[str, ...],
    interval: str,
    time_field: str,
    start: str | None,
    end: str | None,
    exact: bool,
    page_size: int,
    as_json: bool,
) -> None:
    """Count an index's entities as an HCAD detector on FIELDs would see them.

    Prints the exact number of distinct entities (value combinations of the fields) and the most
    entities active in one interval, with the 2-hour cache bound B = A x ceil(120 / interval) that
    'hcad size' uses. Active counts use the cardinality aggregation (exact in practice up to 40,000
    per interval); --exact counts them exactly.
    """
    from tqdm import tqdm

    from hcad.cli.results import parse_range
    from hcad.errors import ConfigError
    from hcad.sizing import active_entity_bound, cache_intervals, parse_interval
    from hcad.sizing.entities import distinct_entities, max_active_entities

    # Everything checked before the cluster is asked.
    if len(fields) > 2:
        raise ConfigError(f"{len(fields)} --field options given; the plugin allows at most 2 category fields")
    minutes = parse_interval(interval, "--interval")
    start_ms, end_ms = parse_range(start, end)
    client = cli.client
    bar = tqdm(desc="entities", unit=" entities", file=sys.stderr, disable=as_json or not sys.stderr.isatty())
    try:
        total = distinct_entities(
            client, index, fields, time_field=time_field, start=start_ms, end=end_ms, page_size=page_size,
            progress=bar.update,
        )  # fmt: skip
        active = max_active_entities(
            client, index, fields, interval_minutes=minutes, time_field=time_field, start=start_ms, end=end_ms,
            exact=exact, page_size=page_size,
        )  # fmt: skip
    finally:
        bar.close()
    bound = active_entity_bound(active.max_active, minutes) if active.max_active else 0
    out: dict[str, Any] = {
        "index": index,
        "fields": list(fields),
        "from": start,
        "to": end,
        "distinct_entities": total,
        **active.to_dict(),
        "cache_intervals": cache_intervals(minutes),
        "cache_bound": bound,
        "entities_to_size_for": min(total, bound) if bound else total,
    }
    if as_json:
        echo_json(out)
        return
    how = "exact" if active.exact else f"cardinality, precision_threshold {active.precision_threshold:,}"
    click.echo(
        f"index {index}, entity = ({', '.join(fields)})" + (f", {start or '…'} to {end or '…'}" if start or end else "")
    )
    click.echo(f"  distinct entities            {total:,}  (exact, composite aggregation)")
    click.echo(
        f"  max active per {active.interval:<6}       {active.max_active:,}  ({how}; busiest interval "
        f"{active.at or '-'}, {active.intervals:,} intervals with data)"
    )
    click.echo(f"  cache bound B = A x {cache_intervals(minutes)}        {bound:,}")
    click.echo(f"  size for E = min(C, B)       {out['entities_to_size_for']:,}")
