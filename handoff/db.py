"""Database engine and sessions shared by the action server, the service and the console."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
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


def add_missing_columns(conn: Connection) -> list[str]:
    """Add the nullable columns a newer version of the models has to tables an older one
    created (create_all makes missing tables only). Every change so far only adds nullable
    columns, which needs no migration tool; one that changes or fills columns would bring
    Alembic. Returns "table.column" for each column added."""
    found = inspect(conn)
    added = []
    for table in Base.metadata.sorted_tables:
        if not found.has_table(table.name):
            continue
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"The handoff database's table {table.name} lacks the column "
                    f"{column.name}, which cannot be added to existing rows automatically."
                )
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
            added.append(f"{table.name}.{column.name}")
    return added


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        if self.engine.dialect.name == "postgresql":
            # Replicas starting together on a fresh database: one creates the tables.
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
                Base.metadata.create_all(conn)
                add_missing_columns(conn)
        else:
            with self.engine.begin() as conn:
                Base.metadata.create_all(conn)
                add_missing_columns(conn)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
