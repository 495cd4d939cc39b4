"""Extends the audit hash chains: every round seals newly shipped audit events and, every checkpoint
interval, signs each chain head that moved. Any number of processes may run it (sealing is serialised per
organization in the database, see ``storage/repositories/audit.py``). ``run`` never raises.
"""

from __future__ import annotations

import logging

from steward.compliance.chain import Chains
from steward.tasks import pause, stop_if_cancelled

log = logging.getLogger("steward.sealer")


class Sealer:
    """Runs ``Chains.seal_once`` and ``Chains.checkpoint_all`` every ``interval`` seconds."""

    def __init__(self, chains: Chains, *, interval: float = 1.0) -> None:
        self._chains = chains
        self._interval = interval

    async def run_once(self) -> int:
        """One round: seal, then checkpoint what is due. Returns the number of events sealed."""
        sealed = await self._chains.seal_once()
        await self._chains.checkpoint_all()
        return sealed

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # fail-safe by design: unsealed events stay unsealed until the next round
                stop_if_cancelled()
                log.exception("audit sealing round failed")
            await pause(self._interval)
