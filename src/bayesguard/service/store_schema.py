"""The audit store's tables, URLs and engines, the same for SQLite and PostgreSQL (SQLAlchemy 2 Core).

Tables (``seq`` is assigned by the store, not by an auto-increment, so the chain's order is the same in
both backends)::

    records(seq PK, kind, created, posterior_version, bundle_hash, payload, prev_hash, hash,
            ref UNIQUE NULL, decision NULL, action NULL)      -- the hash chain (see .chain)
    asks(ref PK, seq UNIQUE, status, answer_seq NULL)         -- the ASK queue
    api_keys(name PK, key_hash UNIQUE, scopes, created, revoked NULL)

``payload`` is canonical JSON text (never JSONB: the hash covers the exact text's content). ``ref``,
``decision`` and ``action`` are indexed copies of what the payload says; they are not hashed, and
``verify`` cross-checks them against the payload.

Engines: SQLite runs in WAL mode with ``synchronous=FULL`` on every connection, with no implicit
transactions (a write opens ``BEGIN IMMEDIATE``, a read a plain ``BEGIN``); PostgreSQL goes through
psycopg 3 (``postgresql+psycopg://``; ``postgresql://`` and ``postgres://`` are mapped to it) with
``synchronous_commit=on`` on every connection.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: The backends a store runs on.
BACKENDS = ("sqlite", "postgresql")
_SEQ = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY: SQLite's rowid

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("kind", Text, nullable=False),
    Column("created", Text, nullable=False),
    Column("posterior_version", Text, nullable=False),
    Column("bundle_hash", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("ref", Text, nullable=True),
    Column("decision", Text, nullable=True),
    Column("action", BigInteger, nullable=True),
    Index("uq_records_ref", "ref", unique=True),
    Index("ix_records_kind", "kind"),
    Index("ix_records_decision", "decision"),
    Index("ix_records_created", "created"),
)

asks = Table(
    "asks",
    metadata,
    Column("ref", Text, primary_key=True),
    Column("seq", _SEQ, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("answer_seq", _SEQ, nullable=True),
    Index("ix_asks_status_seq", "status", "seq"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("name", Text, primary_key=True),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("created", Text, nullable=False),
    Column("revoked", Text, nullable=True),
)

#: The columns of ``records`` in the order rows are read: :data:`~.chain.ROW_FIELDS`, then the
#: indexed copies ``ref``, ``decision``, ``action``.
RECORD_COLUMNS = tuple(records.c)


def sqlite_path(path_or_url: str | Path) -> str:
    """The SQLite file named by ``path_or_url``: a path, or ``sqlite:///relative.db`` /
    ``sqlite:////absolute.db`` (SQLAlchemy's form).

    Raises:
        ValueError: another URL scheme, an empty path, or an in-memory database.
    """
    text = str(path_or_url)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme != "sqlite":
            raise ValueError(f"path_or_url: expected a file path or 'sqlite:///PATH', got scheme {scheme!r}")
        if not rest.startswith("/"):
            raise ValueError(f"path_or_url: expected 'sqlite:///PATH' (three slashes), got {text!r}")
        text = rest[1:]
    if not text:
        raise ValueError("path_or_url: expected a file path or 'sqlite:///PATH', got an empty path")
    if text == ":memory:" or text.startswith("file:"):
        raise ValueError(f"path_or_url: expected a database file, got {text!r} (not a durable store)")
    return text


def resolve_url(path_or_url: str | Path) -> tuple[str, URL]:
    """``(backend, SQLAlchemy URL)`` for a store: a SQLite path or ``sqlite:///PATH``, or a PostgreSQL
    URL ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://`` (all through psycopg 3).

    Raises:
        ValueError: any other scheme or driver, or a malformed URL.
    """
    text = str(path_or_url)
    scheme = text.partition("://")[0] if "://" in text else ""
    if scheme in ("", "sqlite"):
        return "sqlite", URL.create("sqlite", database=sqlite_path(text))
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError(
            f"path_or_url: expected a file path, 'sqlite:///PATH' or 'postgresql://USER@HOST/DB', got "
            f"scheme {scheme!r} (PostgreSQL is reached through psycopg 3: postgresql+psycopg://)"
        )
    try:
        url = make_url("postgresql+psycopg://" + text.partition("://")[2])
    except ArgumentError as exc:
        raise ValueError(f"path_or_url: not a valid PostgreSQL URL ({exc})") from None
    return "postgresql", url


def masked(url: URL) -> str:
    """``url`` as text with any password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def make_engine(backend: str, url: URL, timeout: float) -> Engine:
    """An engine for ``url`` with the store's connection settings.

    SQLite: ``journal_mode=WAL``, ``synchronous=FULL``, busy timeout ``timeout`` s, no implicit
    transactions; a connection with execution option ``bg_write=True`` opens ``BEGIN IMMEDIATE`` (the
    write lock) where others open ``BEGIN``. PostgreSQL: ``synchronous_commit=on``, connect timeout.
    """
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # no implicit BEGIN: the "begin" event below opens each
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("bg_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    engine = create_engine(
        url, connect_args={"connect_timeout": max(1, math.ceil(timeout))}, pool_pre_ping=True
    )

    @event.listens_for(engine, "connect")
    def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET SESSION synchronous_commit = on")
        dbapi_conn.commit()

    return engine


#: Key of the advisory lock that serialises schema creation on PostgreSQL ("bgschema" in ASCII).
SCHEMA_LOCK = 0x6267736368656D61


def has_schema(conn: Connection) -> bool:
    """Whether the ``records`` table exists (a store is there)."""
    return inspect(conn).has_table("records")


def create_schema(conn: Connection, derive: Any) -> None:
    """Create the tables and indexes that are missing, inside the caller's write transaction; bring a
    ``records`` table from before the indexed columns up to date, filling them with
    ``derive(kind, payload) -> (ref, decision, action)``."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
    had_records = has_schema(conn)
    metadata.create_all(conn)
    if not had_records:
        return
    present = {c["name"] for c in inspect(conn).get_columns("records")}
    missing = [c for c in ("ref", "decision", "action") if c not in present]
    if not missing:
        return
    for name in missing:
        kind = "INTEGER" if name == "action" else "TEXT"
        conn.exec_driver_sql(f"ALTER TABLE records ADD COLUMN {name} {kind}")
    for index in records.indexes:
        index.create(conn, checkfirst=True)
    rows = conn.execute(records.select().with_only_columns(records.c.seq, records.c.kind, records.c.payload))
    for seq, kind, text in rows.fetchall():
        try:
            payload = json.loads(text)
        except ValueError:
            continue  # verify() reports it
        if isinstance(payload, dict):
            ref, decision, action = derive(kind, payload)
            conn.execute(
                update(records).where(records.c.seq == seq).values(ref=ref, decision=decision, action=action)
            )


__all__ = [
    "BACKENDS",
    "RECORD_COLUMNS",
    "api_keys",
    "asks",
    "create_schema",
    "has_schema",
    "make_engine",
    "masked",
    "metadata",
    "records",
    "resolve_url",
    "sqlite_path",
]


@contextmanager
def sqlite_write_lock(path: str | None, timeout: float) -> Iterator[None]:
    """SQLite, several processes: take turns on ``<db>.writelock`` (flock, polled every 0.5 ms up to
    ``timeout`` s) before ``BEGIN IMMEDIATE``. SQLite's own busy handler backs off up to 100 ms between
    tries, which made the slowest appends of two server processes wait about a second. A no-op for
    PostgreSQL (``path`` None) and in-memory databases."""
    if path is None or path == ":memory:":
        yield
        return
    fd = os.open(f"{path}.writelock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the SQLite audit store {path} stayed locked for {timeout:g} s"
                    ) from None
                time.sleep(0.0005)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
