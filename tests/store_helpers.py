"""Helpers of the audit store tests: the chain's hash written from its specification, a store filled with
records, and raw SQL on the database behind the store's back (as an attacker with write access)."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import psycopg
from pg_server import libpq_url

from bayesguard.service.store import AuditStore, Entry

ZERO = "0" * 64


def reference_hash(prev: str, seq, kind, created, version, bundle, payload) -> str:
    """The chain's hash, written from the specification, independently of the store's code."""
    body = json.dumps(
        [seq, kind, created, version, bundle, payload],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(prev.encode() + body.encode()).hexdigest()


def fill(url: str, n: int, *, batch: bool = False) -> list:
    """``n`` records of kinds "note" / "ask", every fourth with a ref ``r<i>``: appended one by one, or
    in one ``append_many`` (the same chain, one commit)."""
    entries = [
        Entry(
            "note" if i % 3 else "ask",
            {"i": i, "text": f"réf {i} ☂", "nested": {"b": [i, None, 0.1 * i], "a": True}},
            f"v{i // 5}",
            "b" * 64,
            None if i % 4 else f"r{i}",
        )
        for i in range(n)
    ]
    with AuditStore(url) as store:
        if batch:
            return store.append_many(entries)
        return [
            store.append(
                e.kind, e.payload, posterior_version=e.posterior_version, bundle_hash=e.bundle_hash, ref=e.ref
            )
            for e in entries
        ]


def raw(url: str, *sql: tuple) -> list:
    """Run statements ``(sql, *params)`` (``?`` placeholders) in one transaction, directly on the
    database; return the last statement's rows (if it returns any)."""
    rows: list = []
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        with db:
            for statement, *params in sql:
                cursor = db.execute(statement, tuple(params))
                rows = cursor.fetchall()
        db.close()
        return rows
    with psycopg.connect(libpq_url(url)) as conn:
        for statement, *params in sql:
            cursor = conn.execute(statement.replace("?", "%s"), tuple(params))
            rows = cursor.fetchall() if cursor.description else []
    return rows
