"""Async engine and session factory for SQLite (embedded default, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable across process crashes in WAL
    # mode (the journal, not the database, carries the power-loss promise).
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_engine(url: str, *, pool_size: int = 10, statement_cache: int | None = None) -> AsyncEngine:
    """An async engine; for SQLite the parent folder is created and WAL mode switched on. ``statement_cache``
    bounds the prepared statements each PostgreSQL connection keeps (asyncpg's adapter keeps 100 by default)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, json_serializer=_json_dumps, json_deserializer=orjson.loads)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {} if statement_cache is None else {"prepared_statement_cache_size": statement_cache}
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                               json_serializer=_json_dumps, json_deserializer=orjson.loads, connect_args=connect_args)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """An engine with its session factory, so other planes never touch SQLAlchemy directly."""

    def __init__(self, url: str, *, pool_size: int = 10, statement_cache: int | None = None) -> None:
        self.engine = create_engine(url, pool_size=pool_size, statement_cache=statement_cache)
        self.sessions = session_factory(self.engine)
        self.dialect = self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()
