"""Entry point of the ``hcad`` command.

Subcommands are registered by dotted path and imported only when invoked, so ``hcad --help`` and
``hcad size --help`` stay fast (no pandas, boto3 or matplotlib at start-up).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from hcad.cli.common import CliContext, connection_options

# name -> "module:attribute"; one module per command group, owned by its feature.
COMMANDS: dict[str, tuple[str, str]] = {
    "detectors": ("hcad.cli.detectors:detectors", "Detectors as code and detector operations."),
    "results": ("hcad.cli.results:results", "Anomaly results as a table, CSV or plots."),
    "top": ("hcad.cli.results:top", "Top anomalous entities of a detector."),
    "entities": ("hcad.cli.entities:entities", "Distinct and maximum active entities in an index."),
    "size": ("hcad.cli.size:size", "Capacity plan: data nodes, memory and storage for HCAD."),
    "monitors": ("hcad.cli.monitors:monitors", "Alerting monitors wired to detectors."),
    "drift": ("hcad.cli.monitors:drift", "Watch a detector's anomaly grade for drift."),
    "bridge": ("hcad.cli.bridge:bridge", "CloudWatch to OpenSearch bridge (run, backfill, redrive)."),
    "backtest": ("hcad.cli.backtest:backtest", "Run a detector's RCF locally on data, no cluster needed."),
    "eval": ("hcad.cli.evaluate:evaluate", "Score a detector config against labelled synthetic data."),
    "baseline": ("hcad.cli.baseline:baseline", "Write metrics as deviations from their seasonal baseline."),
    "cluster": ("hcad.cli.cluster:cluster", "Cluster facts: version, plugins, AD stats."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {n for n in COMMANDS if _available(n)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in COMMANDS:
            return cmd
        target = COMMANDS[cmd_name][0]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                return None
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from COMMANDS so listing commands imports none of them.
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx) if n in COMMANDS]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    module_name = COMMANDS[name][0].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@connection_options
@click.option("--debug", is_flag=True, help="Show tracebacks and HTTP details on errors.")
@click.version_option(package_name="hcad")
@click.pass_context
def cli(ctx: click.Context, debug: bool, **conn: Any) -> None:
    """hcad: high-cardinality anomaly detection on OpenSearch, from a terminal.

    Connection settings come from the options below or from HCAD_URL, HCAD_AUTH, HCAD_USER,
    HCAD_PASSWORD, AWS_REGION, HCAD_AWS_SERVICE, HCAD_CA_CERTS, HCAD_INSECURE, HCAD_TIMEOUT.
    """
    ctx.obj = CliContext(conn=conn, debug=debug)


def error_lines(e: Exception, prog: str = "hcad") -> str:
    """How the CLI shows an error: one line, or one line per problem when it holds several."""
    from hcad.errors import ValidationError

    if isinstance(e, ValidationError) and len(e.issues) > 1:
        prefix = f"{e.source}: " if e.source else ""
        return "\n".join([f"{prog}: error: {prefix}{len(e.issues)} problems:", *(f"  - {i}" for i in e.issues)])
    return f"{prog}: error: {e}"


def secrets_of(args: list[str], env: Mapping[str, str]) -> list[str]:
    """The secrets this run knows (password, AWS keys), as given and as a basic-auth header carries them."""
    import base64

    found: list[str] = []
    for i, a in enumerate(args):
        if a == "--password" and i + 1 < len(args):
            found.append(args[i + 1])
        elif a.startswith("--password="):
            found.append(a.split("=", 1)[1])
    found += [env[k] for k in ("HCAD_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if env.get(k)]
    user = env.get("HCAD_USER") or next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--user"), None)
    for secret in list(found):
        if user:
            found.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return [x for x in found if len(x) >= 4]


class Redact(logging.Filter):
    """Masks known secrets and any Authorization header value in log records (used by --debug)."""

    HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer|aws4-hmac-sha256)?\s*[^'\",\s]+")

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return self.HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) or ''} ***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        return True


@contextmanager
def _debug_logging(redact: Redact, enabled: bool) -> Iterator[None]:
    """--debug: one line per HTTP request (method, URL, status, time) and hcad's retries, on stderr."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hcad: debug: %(name)s: %(message)s"))
    handler.addFilter(redact)
    loggers = [logging.getLogger(name) for name in ("opensearch", "hcad")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.addHandler(handler)
    try:
        yield
    finally:  # main() may run many times in one process (tests): leave logging as it was
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one line and exit non-zero, without a traceback."""
    import os

    from hcad.errors import HcadError

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    redact = Redact(secrets_of(args, os.environ))
    try:
        with _debug_logging(redact, debug):
            rv = cli.main(args=args, prog_name="hcad", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("hcad: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except HcadError as e:
        if debug:
            click.echo(redact.redact(traceback.format_exc()), err=True, nl=False)
        click.echo(redact.redact(error_lines(e)), err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("hcad: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
