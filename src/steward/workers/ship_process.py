"""The ``steward ship`` process: the journal shipper and the audit sealer, beside the serving workers.

``steward serve`` starts it as ``python -m steward.workers.ship_process`` (``steward ship`` runs the same loop):
this module imports only what shipping and sealing need, not the CLI and its commands, so the process holds
about 40 MB less than one started through the CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal

from steward.compliance.chain import build_chains, sealing_for
from steward.governance.catalog_source import CatalogSource
from steward.settings import Settings
from steward.storage.engine import Database
from steward.storage.health import ping
from steward.storage.repositories.catalog import CatalogRepository
from steward.storage.repositories.records import RecordsRepository
from steward.workers.sealer import Sealer
from steward.workers.shipper import run_standalone


def run(parent_pid: int | None) -> None:
    """Ship and seal until SIGTERM/SIGINT or until ``parent_pid`` is gone; then ship once more."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def main() -> None:
        # Two tasks use the database here (the shipper and the sealer): a small pool. And few prepared statements
        # per connection: a batch insert's statement differs with its number of rows, so a cache of 100 on each of
        # 20 connections held ~100 MB of statements on PostgreSQL (the ship process grew from 140 to 237 MB).
        database = Database(settings.resolved_database_url(), pool_size=2, statement_cache=8)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        # Everything imported and built so far lives as long as the process: out of the collector's sight.
        gc.collect()
        gc.freeze()
        # The audit sealer runs here too, beside the shipper: database work stays out of the serving workers.
        sealer = asyncio.create_task(Sealer(build_chains(settings, database),
                                            interval=settings.audit_seal_interval).run())
        try:
            await run_standalone(settings.resolved_journal_dir(),
                                 RecordsRepository(database.sessions, database.dialect),
                                 interval=settings.journal_ship_interval, batch_size=settings.journal_batch_size,
                                 stop=stop, parent_pid=parent_pid, ping=lambda: ping(database.engine, 2.0),
                                 catalogs=CatalogSource(CatalogRepository(database.sessions)), sealing=sealing_for)
        finally:
            sealer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sealer
            await database.close()

    asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m steward.workers.ship_process", description=__doc__)
    parser.add_argument("--parent-pid", type=int, default=None, help="Stop when this process is gone.")
    run(parser.parse_args().parent_pid)
