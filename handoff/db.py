"""Database engine and sessions shared by the action server, the service and the console."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from handoff.models import Base

SCHEMA_LOCK_KEY = 0x50415253  # advisory lock held while the handoff tables are created


def sqlalchemy_url(url: str) -> str:
    """A PostgreSQL URL as people write it (postgresql://, postgres://) with the driver this
    environment has (psycopg 3); other URLs unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def make_engine(url: str, wal: bool = True) -> Engine:
    """Create the engine; SQLite gets WAL so several processes can read while one writes.

    `wal=False` is for databases another program owns (Rasa's): we only read them and
    leave their journal mode alone."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True  # a server restart must not break the next request
    engine = create_engine(sqlalchemy_url(url), **kwargs)
    if url.startswith("sqlite") and wal:

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def rowcount(result: object) -> int:
    """Rows matched by an UPDATE (typed loosely: Session.execute returns a CursorResult)."""
    return int(getattr(result, "rowcount", 0) or 0)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        if self.engine.dialect.name == "postgresql":
            # Replicas starting together on a fresh database: one creates the tables.
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
                Base.metadata.create_all(conn)
        else:
            Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
