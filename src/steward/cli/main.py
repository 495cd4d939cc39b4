"""The ``steward`` entry point: wires the command groups together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated

import typer

from steward.cli import (
    activities,
    admin_keys,
    audit,
    compliance,
    identity,
    limits,
    people,
    policy,
    policy_as_code,
    reports,
    webhooks,
)
from steward.cli import console as console_cli
from steward.cli.catalog import catalog_app
from steward.cli.claude_code import claude_code
from steward.cli.helptext import ReadableGroup
from steward.cli.journal import journal_app
from steward.settings import Settings

app = typer.Typer(help="Steward: a governance gateway for the Anthropic Claude API.", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=ReadableGroup)


def _version(value: bool) -> None:
    if value:
        from steward import __version__
        print(f"steward {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Print Steward's version and exit.")] = False) -> None:
    """Steward: a governance gateway for the Anthropic Claude API."""


app.command()(identity.init)
app.add_typer(identity.workspaces_app, name="workspaces")
app.add_typer(identity.keys_app, name="keys")
app.command()(identity.organization)
app.add_typer(people.users_app, name="users")
app.add_typer(people.invitations_app, name="invitations")
app.add_typer(people.members_app, name="members")
app.add_typer(admin_keys.admin_keys_app, name="admin-keys")
app.add_typer(limits.rate_limits_app, name="rate-limits")
app.add_typer(limits.spend_limits_app, name="spend-limits")
app.add_typer(limits.spend_requests_app, name="spend-requests")
app.add_typer(webhooks.webhooks_app, name="webhooks")
reports.usage_app.command("claude-code")(claude_code)
app.add_typer(reports.usage_app, name="usage")
app.add_typer(audit.audit_app, name="audit")
app.command("access-review")(audit.access_review)
app.add_typer(policy.policy_app, name="policy")
app.command()(policy_as_code.plan)
app.command()(policy_as_code.apply)
app.command()(policy_as_code.export)
compliance.compliance_app.command("activities")(activities.compliance_activities)
app.add_typer(compliance.compliance_app, name="compliance")
app.add_typer(console_cli.console_app, name="console")
app.add_typer(journal_app, name="journal")
app.add_typer(catalog_app, name="catalog")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from steward.storage.migrate import upgrade

    upgrade(Settings().resolved_database_url())
    typer.echo("Database is up to date.")


def _migrate_when_reachable(settings: Settings, upgrade: Callable[[str], None]) -> None:
    """Bring the schema up to date, waiting up to ``STEWARD_STARTUP_DATABASE_WAIT`` for a database that does not
    answer yet (at boot, PostgreSQL may start after Steward); a clear one-line error, not a traceback, when it
    never does or refuses for another reason (a wrong role or password)."""
    from steward.storage.health import StartupWait, database_unavailable, describe, unavailable_hint

    wait = StartupWait(settings.startup_database_wait)
    while True:
        try:
            upgrade(settings.resolved_database_url())
            return
        except Exception as exc:
            pause = wait.pause_after(exc)
            if pause is not None:
                time.sleep(pause)
                continue
            if not database_unavailable(exc):
                typer.echo(f"steward serve: the database refused the schema upgrade: {describe(exc)}", err=True)
            else:
                typer.echo(f"steward serve: the database was not available within {wait.seconds:g} s "
                           f"(STEWARD_STARTUP_DATABASE_WAIT): {describe(exc)}{unavailable_hint(exc)}", err=True)
            raise typer.Exit(1) from None


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
          port: Annotated[int | None, typer.Option(help="Port.")] = None,
          workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
          inline_shipper: Annotated[bool, typer.Option(
              help="Ship the journal from the worker itself instead of a `steward ship` process.")] = False) -> None:
    """Run the gateway (migrates the database first, then starts the journal shipper and the workers); a
    shipper that dies is restarted with backoff."""
    import os
    import sys

    import uvicorn

    from steward.cli.address import recorded
    from steward.cli.supervise import Supervisor
    from steward.serving import uvicorn_config
    from steward.serving_guard import Door, raise_open_file_limit
    from steward.storage.migrate import upgrade

    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if workers > 1 and not settings.redis_url:
        # Each worker would keep its own rate-limit buckets and spend counters: N workers, N times every limit.
        typer.echo(f"Refusing to start {workers} workers without Redis: rate limits and spend caps are counted in "
                   "each process, so every limit would be multiplied by the number of workers. Set "
                   "STEWARD_REDIS_URL (shared counters), or run --workers 1.", err=True)
        raise typer.Exit(2)
    _migrate_when_reachable(settings, upgrade)
    shipper = None
    if not inline_shipper:
        # Database writes run in their own process so they never compete with requests for the GIL.
        os.environ["STEWARD_JOURNAL_SHIP_INLINE"] = "false"
        shipper = Supervisor([sys.executable, "-m", "steward.workers.ship_process", "--parent-pid",
                                 str(os.getpid())])
        shipper.start()
    raise_open_file_limit()  # before the door's connection cap is derived from it
    metrics_dir = None
    if workers > 1:  # the workers write their counters here; /metrics sums them (steward/metrics.py)
        import tempfile

        from steward.metrics import MULTIPROC_ENV

        metrics_dir = tempfile.mkdtemp(prefix="steward-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    config = uvicorn_config("steward.app:create_app", host or settings.host, port or settings.port,
                            log_level=settings.log_level, workers=workers, factory=True,
                            door=Door.of(settings), keep_alive=settings.keep_alive_timeout, root_logging=True)
    server = uvicorn.Server(config)
    try:
        # `steward console link` builds its links on the address recorded here (cli/address.py).
        with recorded(settings.home, config.host, config.port):
            if workers > 1:
                from uvicorn.supervisors import Multiprocess

                Multiprocess(config, sockets=[config.bind_socket()]).run()
            else:
                server.run()
    finally:
        if shipper is not None:
            shipper.stop(timeout=30)
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def ship(parent_pid: Annotated[int | None, typer.Option(help="Stop when this process is gone.")] = None) -> None:
    """Ship the journal to the database until stopped (`steward serve` runs one of these)."""
    from steward.workers.ship_process import run

    run(parent_pid)


@app.command()
def simulate(host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
             port: Annotated[int, typer.Option(help="Port.")] = 8090,
             ttft_ms: Annotated[float, typer.Option(help="Delay before the first byte.")] = 0.0,
             tokens_per_second: Annotated[float, typer.Option(help="Streaming pace; 0 = unpaced.")] = 0.0,
             fault: Annotated[str | None, typer.Option(help="429, 529, 500, slow or cut on every request.")]
             = None) -> None:
    """Run the built-in Anthropic-compatible upstream simulator."""
    from steward.simulator.config import SimulatorConfig
    from steward.simulator.server import run

    run(host, port, SimulatorConfig(ttft_ms=ttft_ms, tokens_per_second=tokens_per_second, fault=fault))


@app.command()
def demo(keep: Annotated[bool, typer.Option(help="Keep the demo's data folder.")] = False,
         serve: Annotated[bool, typer.Option(help="Keep the gateway and its console running until Ctrl-C.")] = False
         ) -> None:
    """Start gateway + simulator on a fresh SQLite, send real SDK traffic, print usage, cost and audit."""
    from steward.cli.demo import run_demo

    run_demo(keep=keep, serve=serve)


def main() -> None:
    app()
