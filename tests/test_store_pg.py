"""The audit store on a real PostgreSQL (a throwaway server, :mod:`pg_server`; the shared properties run
on both backends in test_store.py and test_store_queue.py): every URL form reaches it through psycopg 3
and the password never shows; a chain written in PostgreSQL verifies unchanged in SQLite (one hash
definition); ``bayesguard audit verify postgresql://...`` exits 0 / 1 and creates nothing in a database
without a store; a server that cannot be reached fails clearly."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest
from pg_server import PgUnavailable, find_bindir, libpq_url, throwaway_server
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from store_helpers import fill, raw

from bayesguard.cli import main
from bayesguard.guard.verdict import Verdict
from bayesguard.service.store import AuditStore


def _with_password(url: str, scheme: str) -> str:
    text = make_url(url).set(password="hunter2").render_as_string(hide_password=False)
    return scheme + "://" + text.partition("://")[2]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_every_postgres_url_form_reaches_the_server_and_hides_the_password(pg_fresh_url, scheme):
    url = _with_password(pg_fresh_url, scheme)  # trust authentication: the password is not checked
    with AuditStore(url) as store:
        assert (store.backend, store.path) == ("postgresql", None)
        assert store.url.startswith("postgresql+psycopg://postgres:***@") and "hunter2" not in store.url
        store.append("note", {"a": 1}, posterior_version="1", bundle_hash="h")
    with AuditStore(pg_fresh_url) as store:
        assert len(store) == 1 and store.verify().ok


def test_a_sqlite_store_names_its_backend_and_file(tmp_path):
    with AuditStore(tmp_path / "a.db") as store:
        assert (store.backend, store.path, store.url) == (
            "sqlite",
            str(tmp_path / "a.db"),
            f"sqlite:///{tmp_path}/a.db",
        )


def test_a_chain_written_in_postgres_verifies_unchanged_in_sqlite(pg_fresh_url, tmp_path):
    written = fill(pg_fresh_url, 40)
    with AuditStore(pg_fresh_url) as store:
        store.append_verdict(
            Verdict(decision="ASK", action=3, harm_estimate=0.5, posterior_harm=0.5, threshold=0.1, rule="r"),
            posterior_version="9",
            bundle_hash="h",
            ref="q",
        )
        head = store.head()
    rows = raw(pg_fresh_url, ("SELECT * FROM records ORDER BY seq",))
    asks = raw(pg_fresh_url, ("SELECT * FROM asks",))
    path = tmp_path / "copy.db"
    AuditStore(path).close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(f"INSERT INTO records VALUES ({','.join('?' * len(rows[0]))})", rows)
        db.executemany("INSERT INTO asks VALUES (?, ?, ?, ?)", asks)
    db.close()
    with AuditStore(path) as store:
        assert store.head() == head and store.verify(anchor=head).ok
        assert list(store.records())[:40] == written and store.open_asks()[0].ref == "q"


def test_cli_audit_verify_reads_a_postgres_url(pg_fresh_url, tmp_path, capsys):
    fill(pg_fresh_url, 10)
    url = _with_password(pg_fresh_url, "postgresql")
    assert main(["audit", "verify", url, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "intact: 10 records" in out and "hunter2" not in out
    assert json.loads((tmp_path / "audit_verify.json").read_text())["n"] == 10
    raw(pg_fresh_url, ("UPDATE records SET bundle_hash = 'x' WHERE seq = 4",))
    assert main(["audit", "verify", url]) == 1
    out = capsys.readouterr().out
    assert "seq 4" in out and "hash mismatch" in out


def test_verifying_a_database_without_a_store_fails_and_creates_nothing(pg_fresh_url, capsys):
    with pytest.raises(ValueError, match="no audit store"):
        AuditStore(pg_fresh_url, create=False)
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", _with_password(pg_fresh_url, "postgres")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no audit store" in err and "hunter2" not in err
    with psycopg.connect(libpq_url(pg_fresh_url)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchone()[0]
    assert tables == 0
    AuditStore(pg_fresh_url).close()
    with psycopg.connect(libpq_url(pg_fresh_url)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchone()[0]
    assert tables == 3  # records, asks, api_keys: the count above looked in the right place


def test_an_unreachable_server_fails_clearly(tmp_path, capsys):
    url = f"postgresql://postgres@/db?host={tmp_path}&port=1"  # no server has a socket there
    with pytest.raises(OperationalError):
        AuditStore(url, timeout=1)
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", url])
    assert exc.value.code == 2 and "cannot open the audit store" in capsys.readouterr().err


def test_without_binaries_the_server_helper_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("BAYESGUARD_PG_BIN", str(tmp_path))
    assert find_bindir() is None
    with pytest.raises(PgUnavailable, match="postgresql"):
        with throwaway_server():
            pass
