"""Shared CLI plumbing: connection options, the lazily built client, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from hcad.connection import HcadClient

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(f: F) -> F:
    """Options every command shares for reaching the cluster (values default to the environment)."""
    options = [
        click.option("--url", metavar="URL", help="Cluster URL [env HCAD_URL; default http://127.0.0.1:9200]."),
        click.option("--auth", type=click.Choice(["basic", "sigv4", "none"]), help="Authentication [env HCAD_AUTH]."),
        click.option("--user", metavar="NAME", help="User for basic auth [env HCAD_USER]."),
        click.option(
            "--password",
            metavar="SECRET",
            help="Password for basic auth [env HCAD_PASSWORD; prompted when missing].",
        ),
        click.option("--region", metavar="REGION", help="AWS region for SigV4 [env AWS_REGION]."),
        click.option(
            "--service", type=click.Choice(["es", "aoss"]), help="SigV4 service: es or aoss [env HCAD_AWS_SERVICE]."
        ),
        click.option("--ca-certs", metavar="PEM", help="CA bundle to verify TLS with [env HCAD_CA_CERTS]."),
        click.option(
            "--insecure", is_flag=True, default=None, help="Do not verify TLS certificates [env HCAD_INSECURE=1]."
        ),
        click.option(
            "--request-timeout",
            "timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="Seconds to wait for each request [env HCAD_TIMEOUT; default 30].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@dataclass
class CliContext:
    """What the group passes to every command: connection options and a client built on demand."""

    conn: dict[str, Any] = field(default_factory=dict)
    debug: bool = False
    _client: HcadClient | None = None

    @property
    def client(self) -> HcadClient:
        """The connected client, built on first use (prompts for a password only on a terminal)."""
        if self._client is None:
            import os

            from hcad.connection import connect

            c = dict(self.conn)
            insecure = c.pop("insecure", None)
            password = c.get("password")
            user = c.get("user") or os.environ.get("HCAD_USER")
            auth = (c.get("auth") or os.environ.get("HCAD_AUTH") or ("basic" if user else "none")).lower()
            if auth == "basic" and password is None and os.environ.get("HCAD_PASSWORD") is None and user:
                if sys.stdin is None or not sys.stdin.isatty():
                    from hcad.errors import ConfigError

                    raise ConfigError(f"no password for user {user!r}: set HCAD_PASSWORD or pass --password")
                c["password"] = click.prompt(f"Password for {user}", hide_input=True)
            self._client = connect(
                c.get("url"),
                auth=c.get("auth"),
                user=c.get("user"),
                password=c.get("password"),
                region=c.get("region"),
                service=c.get("service"),
                ca_certs=c.get("ca_certs"),
                verify=False if insecure else None,
                timeout=c.get("timeout"),
            )
        return self._client


pass_cli = click.make_pass_decorator(CliContext, ensure=True)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def echo_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON (datetimes and numpy values converted)."""
    click.echo(json.dumps(obj, indent=2, default=_json_default, sort_keys=False))


def _json_default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def echo_table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    """Print rows as an aligned plain-text table."""
    text_rows = [[_cell(v) for v in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in text_rows:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in text_rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)
