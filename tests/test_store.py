"""The audit store's chain, on SQLite and on a real PostgreSQL (the ``audit_url`` fixture runs each test
on both): every record's hash matches a reference written here; verify() finds each kind of tampering
(edited payload, edited hash, re-hashed edit, deletion, reordered seqs, edited indexed columns) and names
the first bad seq; a truncated tail is invisible without an anchor and caught with one; records are
durable when append returns; two processes (and several threads) appending at once extend one valid
chain; a writer waits for the write lock and gives up after its timeout; ``bayesguard audit verify``
exits 0 / 1."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import threading
import time

import numpy as np
import pytest
from sqlalchemy.exc import OperationalError
from store_helpers import ZERO, fill, raw, reference_hash

from bayesguard.cli import main
from bayesguard.guard.verdict import Decision, Verdict
from bayesguard.service import AuditStore, Head
from bayesguard.service import store as store_module
from bayesguard.service.store import Record


def test_append_then_verify_many_records_against_a_reference_chain(audit_url, monkeypatch):
    monkeypatch.setattr(store_module, "_PAGE", 7)  # long chains are read a page at a time
    written = fill(audit_url, 150)
    with AuditStore(audit_url) as store:
        read = list(store.records())
        assert read == written and len(store) == 150
        prev = ZERO
        for seq, rec in enumerate(read, start=1):
            assert rec.seq == seq and rec.prev_hash == prev
            expect = reference_hash(
                prev, seq, rec.kind, rec.created, rec.posterior_version, rec.bundle_hash, rec.payload
            )
            assert rec.hash == expect
            prev = rec.hash
        assert store.get(137) == read[136]
        assert [r.seq for r in store.records(148)] == [148, 149, 150]
        asks = list(store.records(kind="ask"))
        assert all(r.kind == "ask" for r in asks) and len(asks) == 50
        assert read[8].ref == "r8" and read[8].payload["ref"] == "r8" and read[9].ref is None
        assert store.head() == Head(150, read[-1].hash)
        result = store.verify()
        assert (result.ok, result.n, result.first_bad, result.reason) == (True, 150, None, "ok")
        assert store.verify(anchor=store.head()).ok
        with pytest.raises(KeyError, match="151"):
            store.get(151)
    # the payload column is canonical JSON (sorted keys, no spaces)
    [(text,)] = raw(audit_url, ("SELECT payload FROM records WHERE seq = 2",))
    assert text == json.dumps(read[1].payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_a_verdict_round_trips_with_the_audit_log_serialisation(audit_url):
    verdict = Verdict(
        decision=Decision.ASK,
        action=int(np.int64(2)),
        harm_estimate=0.25,
        posterior_harm=math.nan,
        threshold=0.1,
        rule="cautious",
        reason="unsure",
        assumptions=("a", "b"),
    )
    request = {"context": [1.5, 2], "action": 2}
    with AuditStore(audit_url) as store:
        rec = store.append_verdict(verdict, posterior_version="7", bundle_hash="h", request=request)
        assert rec.payload == {"verdict": json.loads(verdict.to_json()), "request": request}
        assert (rec.decision, rec.action, rec.request) == ("ASK", 2, request)
        back = store.get(rec.seq).verdict()
        assert back.to_dict() == verdict.to_dict() and math.isnan(back.posterior_harm)
        [(r, v)] = list(store.verdicts())
        assert r == rec and v.decision is Decision.ASK and v.assumptions == ("a", "b")
        bare = store.append_verdict(verdict, posterior_version="7", bundle_hash="h")
        assert bare.payload["request"] == {} and bare.verdict().to_dict() == verdict.to_dict()
        other = store.append("ask", {"q": 1}, posterior_version="7", bundle_hash="h")
        with pytest.raises(ValueError, match="kind"):
            other.verdict()
        assert store.verify().ok
    # a record written before the request was kept: the payload is the verdict itself
    old = Record(1, "verdict", "t", "7", "h", json.loads(verdict.to_json()), ZERO, "x")
    assert old.verdict().to_dict() == verdict.to_dict() and old.request is None


def _reseq(a: int, b: int) -> list[tuple]:
    return [
        ("UPDATE records SET seq = -1 WHERE seq = ?", a),
        ("UPDATE records SET seq = ? WHERE seq = ?", a, b),
        ("UPDATE records SET seq = ? WHERE seq = -1", b),
    ]


@pytest.mark.parametrize(
    "tamper, first_bad, fault",
    [
        ([("UPDATE records SET payload = ? WHERE seq = 7", '{"i":999}')], 7, "hash mismatch"),
        ([("UPDATE records SET hash = ? WHERE seq = 7", "f" * 64)], 7, "hash mismatch"),
        ([("UPDATE records SET posterior_version = 'v9' WHERE seq = 3",)], 3, "hash mismatch"),
        ([("UPDATE records SET kind = 'note' WHERE seq = 1",)], 1, "hash mismatch"),
        ([("UPDATE records SET created = '2000-01-01' WHERE seq = 2",)], 2, "hash mismatch"),
        ([("UPDATE records SET prev_hash = ? WHERE seq = 11", "e" * 64)], 11, "broken link"),
        ([("DELETE FROM records WHERE seq = 7",)], 8, "gap in seq"),
        ([("DELETE FROM records WHERE seq = 1",)], 2, "gap in seq"),
        ([("DELETE FROM records WHERE seq BETWEEN 4 AND 9",)], 10, "gap in seq"),
        ([("UPDATE records SET seq = 0 WHERE seq = 1",)], 0, "gap in seq"),
        (_reseq(5, 12), 5, "broken link"),  # two records swap places
        (_reseq(19, 20), 19, "broken link"),
        ([("UPDATE records SET payload = '[1]' WHERE seq = 4",)], 4, "bad payload"),
        ([("UPDATE records SET payload = '{' WHERE seq = 4",)], 4, "bad payload"),
        ([("UPDATE records SET ref = NULL WHERE seq = 5",)], 5, "column mismatch"),
        ([("UPDATE records SET ref = 'r9' WHERE seq = 6",)], 6, "column mismatch"),
        ([("UPDATE records SET decision = 'ALLOW' WHERE seq = 3",)], 3, "column mismatch"),
        ([("UPDATE records SET action = 1 WHERE seq = 8",)], 8, "column mismatch"),
    ],
)
def test_verify_names_the_first_tampered_record(audit_url, tamper, first_bad, fault):
    fill(audit_url, 20, batch=True)
    raw(audit_url, *tamper)
    with AuditStore(audit_url) as store:
        result = store.verify()
    assert not result.ok and result.first_bad == first_bad
    assert result.reason.startswith(fault), result.reason
    assert f"seq {first_bad}" in str(result)


def test_an_edit_rehashed_in_place_breaks_the_next_link(audit_url):
    """An attacker who edits record 7 and recomputes its hash correctly is caught at record 8's link."""
    recs = fill(audit_url, 20, batch=True)
    r = recs[6]
    payload = {**r.payload, "i": -1}
    forged = reference_hash(
        r.prev_hash, r.seq, r.kind, r.created, r.posterior_version, r.bundle_hash, payload
    )
    raw(audit_url, ("UPDATE records SET payload = ?, hash = ? WHERE seq = 7", json.dumps(payload), forged))
    with AuditStore(audit_url) as store:
        result = store.verify()
    assert (result.ok, result.first_bad) == (False, 8) and result.reason.startswith("broken link")


def test_tail_truncation_needs_an_anchor(audit_url):
    """Removing the last records leaves a valid shorter chain: verify() alone cannot see it; a head()
    kept elsewhere can."""
    fill(audit_url, 20, batch=True)
    with AuditStore(audit_url) as store:
        anchor = store.head()
    raw(audit_url, ("DELETE FROM records WHERE seq > 17",))
    with AuditStore(audit_url) as store:
        assert store.verify().ok and store.verify().n == 17  # undetectable from inside the chain
        caught = store.verify(anchor=anchor)
        assert (caught.ok, caught.first_bad) == (False, 18) and caught.reason.startswith("anchor")
        old = store.get(10)
        assert store.verify(anchor=(10, old.hash)).ok
        wrong = store.verify(anchor=(10, "0" * 64))
        assert (wrong.ok, wrong.first_bad) == (False, 10)
        with pytest.raises(ValueError, match="anchor"):
            store.verify(anchor=(-1, "x"))


def _append_then_die(url: str, n: int) -> None:
    store = AuditStore(url)  # never closed: the process is killed as soon as the last append returns
    for i in range(n):
        store.append("note", {"i": i}, posterior_version="1", bundle_hash="h", ref=f"d{i}")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_record_is_durable_once_append_returns(audit_url):
    with AuditStore(audit_url) as store:
        with store._engine.connect() as conn:  # the settings every connection of the store runs with
            if store.backend == "sqlite":
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            else:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    proc = mp.get_context("fork").Process(target=_append_then_die, args=(audit_url, 25))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL
    with AuditStore(audit_url) as store:
        assert len(store) == 25 and store.verify().ok and store.by_ref("d24").payload["i"] == 24


def _writer(url: str, worker: int, n: int, start) -> None:
    start.wait()
    with AuditStore(url) as store:
        for i in range(n):
            store.append("note", {"worker": worker, "i": i}, posterior_version="1", bundle_hash="h")


def test_two_processes_appending_at_once_keep_one_valid_chain(audit_url):
    AuditStore(audit_url).close()  # create the schema before the writers race
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(audit_url, w, 80, start)) for w in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with AuditStore(audit_url) as store:
        assert store.verify().ok and store.verify().n == 160
        recs = list(store.records())
    assert [r.seq for r in recs] == list(range(1, 161))
    for w in range(2):  # each writer's records, all present, in its own order
        assert [r.payload["i"] for r in recs if r.payload["worker"] == w] == list(range(80))


def test_threads_sharing_one_store_keep_one_valid_chain(audit_url):
    with AuditStore(audit_url) as store:
        barrier = threading.Barrier(4)

        def work(w: int) -> None:
            barrier.wait()
            for i in range(25):
                store.append("note", {"worker": w, "i": i}, posterior_version="1", bundle_hash="h")
                store.head()  # reads interleave with the writes

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.verify().ok and len(store) == 100
        recs = list(store.records())
    for w in range(4):
        assert [r.payload["i"] for r in recs if r.payload["worker"] == w] == list(range(25))


def test_a_writer_waits_for_the_write_lock_then_gives_up_writing_nothing(audit_url):
    fill(audit_url, 3, batch=True)
    hold = (
        [("BEGIN IMMEDIATE",)]
        if audit_url.startswith("sqlite")
        else [("LOCK TABLE records IN EXCLUSIVE MODE",)]
    )
    with AuditStore(audit_url, timeout=0.3) as store:
        done = threading.Event()
        holder = threading.Thread(target=_hold_lock, args=(audit_url, hold, done))
        holder.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        with pytest.raises(OperationalError):
            store.append("note", {}, posterior_version="1", bundle_hash="h")
        assert time.monotonic() - t0 < 10
        assert len(store) == 3 and store.head().n == 3  # readers pass the writer's lock
        done.set()
        holder.join()
        assert store.append("note", {}, posterior_version="1", bundle_hash="h").seq == 4


def _hold_lock(url: str, hold: list, done: threading.Event) -> None:
    import sqlite3

    import psycopg
    from pg_server import libpq_url

    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute(hold[0][0])
        done.wait(30)
        db.execute("ROLLBACK")
        db.close()
        return
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(hold[0][0])
        done.wait(30)
        conn.rollback()


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda s: s.append("", {}, posterior_version="1", bundle_hash="h"), "kind"),
        (lambda s: s.append("a\x00b", {}, posterior_version="1", bundle_hash="h"), "kind"),
        (lambda s: s.append("k", [1], posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {"x": math.nan}, posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {"x": object()}, posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {"x": "\ud800"}, posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {}, posterior_version=None, bundle_hash="h"), "posterior_version"),
        (lambda s: s.append("k", {}, posterior_version="1", bundle_hash=""), "bundle_hash"),
        (lambda s: s.append("k", {}, posterior_version="1", bundle_hash="h", ref=""), "ref"),
        (lambda s: s.append("k", {}, posterior_version="1", bundle_hash="h", ref="x" * 257), "ref"),
        (lambda s: s.append("k", {"ref": 3}, posterior_version="1", bundle_hash="h"), "payload.ref"),
        (
            lambda s: s.append("k", {"ref": "a"}, posterior_version="1", bundle_hash="h", ref="b"),
            "payload.ref",
        ),
        (lambda s: s.append("verdict", {"i": 1}, posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("answer", {"ask": "x"}, posterior_version="1", bundle_hash="h"), "kind"),
        (
            lambda s: s.append_verdict({"decision": "ALLOW"}, posterior_version="1", bundle_hash="h"),
            "verdict",
        ),
    ],
)
def test_bad_input_raises_naming_the_field_and_writes_nothing(tmp_path, call, field):
    with AuditStore(tmp_path / "a.db") as store:  # checked before the database: one backend suffices
        with pytest.raises(ValueError, match=field):
            call(store)
        assert len(store) == 0 and store.head() == Head(0, ZERO)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/db",
        "postgresql+psycopg2://h/db",
        "sqlite://relative.db",
        "sqlite:///",
        "sqlite:///:memory:",
    ],
)
def test_unsupported_urls_are_refused(url):
    with pytest.raises(ValueError, match="path_or_url"):
        AuditStore(url)


def test_a_closed_store_refuses_further_use(tmp_path):
    store = AuditStore(tmp_path / "a.db")
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.append("k", {}, posterior_version="1", bundle_hash="h")


def test_cli_audit_verify_exits_0_when_intact_and_1_naming_the_first_bad_record(tmp_path, capsys):
    path = tmp_path / "audit.db"
    url = f"sqlite:///{path}"
    fill(url, 12)
    assert main(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "intact: 12 records" in out
    anchor = out.split("head ")[1].split()[0]
    assert main(["audit", "verify", url, "--anchor", anchor, "--out", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "audit_verify.json").read_text())["ok"] is True
    capsys.readouterr()
    raw(url, ("DELETE FROM records WHERE seq = 12",))
    assert main(["audit", "verify", str(path)]) == 0  # a truncated tail: invisible without the anchor
    capsys.readouterr()
    assert main(["audit", "verify", str(path), "--anchor", anchor]) == 1
    assert "seq 12" in capsys.readouterr().out
    raw(url, ("UPDATE records SET payload = '{}' WHERE seq = 5",))
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "seq 5" in out and "hash mismatch" in out
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", str(tmp_path / "missing.db")])
    assert exc.value.code == 2 and not (tmp_path / "missing.db").exists()
    assert "no audit store" in capsys.readouterr().err
