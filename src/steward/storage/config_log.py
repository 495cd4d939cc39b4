"""The config version and its change log: every control-plane write that a gateway's snapshot depends on bumps the
version and says what it changed, in the same transaction.

A listener on every ORM flush collects what changed (an API key by id; anything else the snapshot holds, as
``config``); ``bump`` adds one to the version and writes those changes under the new version. Writes that bypass
the ORM (a bulk ``UPDATE``) name their keys with ``note_keys``. A bump with nothing collected logs ``config``, so
an explicit bump always makes gateways reload at least the small tables. Versions are committed in order (the
``config_version`` row is locked by the first writer until it commits), so a reader that saw version V and reads
the log after V sees every later change. The log keeps ``KEEP_VERSIONS`` versions; a gateway further behind
reloads everything (``dataplane/snapshot.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from steward.storage.models import (
    ApiKey,
    CatalogVersion,
    ComplianceGroup,
    ComplianceGroupWorkspace,
    ConfigChange,
    ConfigVersion,
    Organization,
    Policy,
    RateLimit,
    SpendLimit,
    Workspace,
)

KEY = "key"
CONFIG = "config"
KEEP_VERSIONS = 20_000  # about a week of busy administration; a gateway further behind reloads everything
PRUNE_EVERY = 500
_PENDING = "steward.config_changes"
_SMALL = (Organization, Workspace, RateLimit, SpendLimit, Policy, ComplianceGroup, ComplianceGroupWorkspace,
          CatalogVersion)


def _pending(session: Session) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = session.info.setdefault(_PENDING, set())
    return found


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: Any, _instances: Any) -> None:
    pending = _pending(session) if (session.new or session.dirty or session.deleted) else None
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ApiKey):
            assert pending is not None
            pending.add((KEY, obj.id))
        elif isinstance(obj, _SMALL):
            assert pending is not None
            pending.add((CONFIG, ""))


def note_keys(session: AsyncSession, key_ids: Iterable[str]) -> None:
    """Keys changed by a statement the ORM does not see (``update(ApiKey)...``)."""
    _pending(session.sync_session).update((KEY, key_id) for key_id in key_ids)


def has_pending(session: AsyncSession) -> bool:
    return bool(session.sync_session.info.get(_PENDING))


async def bump(session: AsyncSession) -> int:
    """The next config version, with what changed since the last bump of this session; returns the version."""
    version = int((await session.execute(
        update(ConfigVersion).where(ConfigVersion.id == 1).values(version=ConfigVersion.version + 1)
        .returning(ConfigVersion.version))).scalar_one())  # the ORM flushed first: _collect has seen it all
    changes = session.sync_session.info.pop(_PENDING, None) or {(CONFIG, "")}
    await session.execute(insert(ConfigChange), [{"version": version, "kind": kind, "entity_id": entity}
                                                 for kind, entity in sorted(changes)])
    if version % PRUNE_EVERY == 0:
        await session.execute(delete(ConfigChange).where(ConfigChange.version <= version - KEEP_VERSIONS))
    return version


async def current_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(ConfigVersion.version).where(ConfigVersion.id == 1)) or 0)


async def changes_since(session: AsyncSession, version: int, limit: int) -> list[tuple[int, str, str]]:
    """Up to ``limit`` changes after ``version``, oldest first (a caller that gets ``limit`` rows may have missed
    some of the last version's: it reloads everything instead)."""
    rows = await session.execute(select(ConfigChange.version, ConfigChange.kind, ConfigChange.entity_id)
                                 .where(ConfigChange.version > version)
                                 .order_by(ConfigChange.version, ConfigChange.kind, ConfigChange.entity_id)
                                 .limit(limit))
    return [(int(v), k, e) for v, k, e in rows]
