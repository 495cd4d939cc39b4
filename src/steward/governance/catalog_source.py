"""The catalog in force for code outside the data plane's snapshot: the newest stored version, else the packaged file.

The control plane (policy validation and dry run, rate-limit groups, reports) and the journal shipper's rollup
cost split read the catalog through one ``CatalogSource``. It asks the store for the newest version's id (one cheap
indexed read) and parses a document only when that id changed, so a call does not re-parse the catalog. Reading
the store is delegated to ``CatalogVersions`` (``storage.repositories.catalog.CatalogRepository``); this module
does no I/O of its own. The data plane's snapshot keeps its own copy, refreshed with the config version.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any, Protocol

from steward.governance.catalog import Catalog, CatalogError

__all__ = ["CatalogSource", "CatalogVersions", "StoredCatalog"]

log = logging.getLogger("steward.catalog")
WARN_INTERVAL = 60.0  # seconds between two logged failures of ``refresh``


class StoredCatalog(Protocol):
    """A stored catalog version (``storage.models.CatalogVersion``)."""

    @property
    def document(self) -> Any: ...


class CatalogVersions(Protocol):
    """Reads of stored catalog versions: the newest id, and a version by id."""

    async def latest_id(self) -> str | None: ...

    async def get(self, version_id: str) -> StoredCatalog | None: ...


class CatalogSource:
    """The newest stored catalog (parsed once per version id), else the packaged file; statuses as of today."""

    def __init__(self, versions: CatalogVersions | None) -> None:
        self._versions = versions
        self._loaded_id: str | None = None  # the stored version parsed; None: the packaged file
        self._declared = Catalog.load_default()
        self._dated: tuple[date, Catalog] | None = None
        self.version_id: str | None = None
        self._warned_at = float("-inf")  # when a failed read was last logged

    @property
    def catalog(self) -> Catalog:
        """The catalog loaded last (statuses as of today), without reading the store."""
        return self._as_of(datetime.now(UTC).date())

    def _as_of(self, day: date) -> Catalog:
        if self._dated is None or self._dated[0] != day:
            self._dated = (day, self._declared.as_of(day))
        return self._dated[1]

    async def current(self) -> Catalog:
        """The catalog in force now: reads the newest version's id, parses its document only when it changed.
        A stored document this code no longer accepts is logged and the last good catalog kept."""
        if self._versions is not None:
            latest = await self._versions.latest_id()
            if latest != self._loaded_id:
                row = await self._versions.get(latest) if latest is not None else None
                try:
                    declared = Catalog.from_document(row.document) if row is not None else Catalog.load_default()
                except CatalogError:  # validated on write; an old version must not stop the control plane
                    log.exception("stored catalog %s no longer loads; keeping %s", latest, self._declared.version)
                else:
                    self._declared, self._loaded_id, self._dated = declared, latest, None
                    self.version_id = latest
        return self.catalog

    async def refresh(self) -> Catalog:
        """``current()`` for background workers: a failed read is logged and the last catalog kept."""
        try:
            catalog = await self.current()
        except Exception as exc:  # fail-safe by design: a worker keeps pricing with the last catalog it loaded
            # Once a minute with the traceback: the shipper asks every round (0.2 s), and a database outage
            # wrote a traceback each time (588 in two minutes, the adversary, session 8).
            now = time.monotonic()
            if now - self._warned_at >= WARN_INTERVAL:
                self._warned_at = now
                log.error("reading the stored catalog failed; keeping %s (logged once a minute while it lasts)",
                          self._declared.version, exc_info=exc)
            return self.catalog
        self._warned_at = float("-inf")
        return catalog
