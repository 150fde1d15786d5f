"""The SQLite audit store: every record's hash matches a reference written here; verify() finds each kind
of tampering (edited payload, edited hash, re-hashed edit, deletion, reordered seqs) and names the first
bad seq; a truncated tail is invisible without an anchor and caught with one; two processes appending at
once extend one valid chain; ``bayesguard audit verify`` exits 0 / 1."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bayesguard.cli import main
from bayesguard.guard.verdict import Decision, Verdict
from bayesguard.service import AuditStore, Head

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


def fill(path: Path, n: int) -> list:
    with AuditStore(f"sqlite:///{path}") as store:
        return [
            store.append(
                "verdict" if i % 3 else "ask",
                {"i": i, "text": f"réf {i} ☂", "nested": {"b": [i, None, 0.1 * i], "a": True}},
                posterior_version=f"v{i // 5}",
                bundle_hash="b" * 64,
            )
            for i in range(n)
        ]


def raw(path: Path, *sql: tuple) -> None:
    """Tamper with the file directly, as an attacker with write access would."""
    db = sqlite3.connect(path)
    with db:
        for statement, *params in sql:
            db.execute(statement, tuple(params))
    db.close()


def test_append_then_verify_many_records_against_a_reference_chain(tmp_path):
    path = tmp_path / "audit.db"
    written = fill(path, 300)
    with AuditStore(path) as store:
        read = list(store.records())
        assert read == written and len(store) == 300
        prev = ZERO
        for seq, rec in enumerate(read, start=1):
            assert rec.seq == seq and rec.prev_hash == prev
            expect = reference_hash(
                prev, seq, rec.kind, rec.created, rec.posterior_version, rec.bundle_hash, rec.payload
            )
            assert rec.hash == expect
            prev = rec.hash
        assert store.get(137) == read[136]
        assert [r.seq for r in store.records(298)] == [298, 299, 300]
        assert (
            all(r.kind == "ask" for r in store.records(kind="ask"))
            and len(list(store.records(kind="ask"))) == 100
        )
        assert store.head() == Head(300, read[-1].hash)
        result = store.verify()
        assert (result.ok, result.n, result.first_bad, result.reason) == (True, 300, None, "ok")
        assert store.verify(anchor=store.head()).ok
        with pytest.raises(KeyError, match="301"):
            store.get(301)
    # the payload column is canonical JSON (sorted keys, no spaces)
    db = sqlite3.connect(path)
    text = db.execute("SELECT payload FROM records WHERE seq = 2").fetchone()[0]
    db.close()
    assert text == json.dumps(read[1].payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_a_verdict_round_trips_with_the_audit_log_serialisation(tmp_path):
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
    with AuditStore(tmp_path / "a.db") as store:
        rec = store.append_verdict(verdict, posterior_version="7", bundle_hash="h")
        assert rec.payload == json.loads(verdict.to_json())  # the JSON-lines log's exact serialisation
        back = store.get(rec.seq).verdict()
        assert back.to_dict() == verdict.to_dict() and math.isnan(back.posterior_harm)
        [(r, v)] = list(store.verdicts())
        assert r == rec and v.decision is Decision.ASK and v.assumptions == ("a", "b")
        other = store.append("ask", {"q": 1}, posterior_version="7", bundle_hash="h")
        with pytest.raises(ValueError, match="kind"):
            other.verdict()


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
        ([("UPDATE records SET kind = 'verdict' WHERE seq = 1",)], 1, "hash mismatch"),
        ([("UPDATE records SET prev_hash = ? WHERE seq = 11", "e" * 64)], 11, "broken link"),
        ([("DELETE FROM records WHERE seq = 7",)], 8, "gap in seq"),
        ([("DELETE FROM records WHERE seq = 1",)], 2, "gap in seq"),
        ([("DELETE FROM records WHERE seq BETWEEN 4 AND 9",)], 10, "gap in seq"),
        (_reseq(5, 12), 5, "broken link"),  # two records swap places
        (_reseq(19, 20), 19, "broken link"),
        ([("UPDATE records SET payload = '[1]' WHERE seq = 4",)], 4, "bad payload"),
        ([("UPDATE records SET payload = '{' WHERE seq = 4",)], 4, "bad payload"),
    ],
)
def test_verify_names_the_first_tampered_record(tmp_path, tamper, first_bad, fault):
    path = tmp_path / "audit.db"
    fill(path, 20)
    raw(path, *tamper)
    with AuditStore(path) as store:
        result = store.verify()
    assert not result.ok and result.first_bad == first_bad
    assert result.reason.startswith(fault), result.reason
    assert f"seq {first_bad}" in str(result)


def test_an_edit_rehashed_in_place_breaks_the_next_link(tmp_path):
    """An attacker who edits record 7 and recomputes its hash correctly is caught at record 8's link."""
    path = tmp_path / "audit.db"
    recs = fill(path, 20)
    r = recs[6]
    payload = {**r.payload, "i": -1}
    forged = reference_hash(
        r.prev_hash, r.seq, r.kind, r.created, r.posterior_version, r.bundle_hash, payload
    )
    raw(path, ("UPDATE records SET payload = ?, hash = ? WHERE seq = 7", json.dumps(payload), forged))
    with AuditStore(path) as store:
        result = store.verify()
    assert (result.ok, result.first_bad) == (False, 8) and result.reason.startswith("broken link")


def test_tail_truncation_needs_an_anchor(tmp_path):
    """Removing the last records leaves a valid shorter chain: verify() alone cannot see it; a head()
    kept elsewhere can."""
    path = tmp_path / "audit.db"
    fill(path, 20)
    with AuditStore(path) as store:
        anchor = store.head()
    raw(path, ("DELETE FROM records WHERE seq > 17",))
    with AuditStore(path) as store:
        assert store.verify().ok and store.verify().n == 17  # undetectable from inside the chain
        caught = store.verify(anchor=anchor)
        assert (caught.ok, caught.first_bad) == (False, 18) and caught.reason.startswith("anchor")
        old = store.get(10)
        assert store.verify(anchor=(10, old.hash)).ok
        wrong = store.verify(anchor=(10, "0" * 64))
        assert (wrong.ok, wrong.first_bad) == (False, 10)
        with pytest.raises(ValueError, match="anchor"):
            store.verify(anchor=(-1, "x"))


def _writer(path: str, worker: int, n: int, start) -> None:
    start.wait()
    with AuditStore(path) as store:
        for i in range(n):
            store.append("verdict", {"worker": worker, "i": i}, posterior_version="1", bundle_hash="h")


def test_two_processes_appending_at_once_keep_one_valid_chain(tmp_path):
    path = str(tmp_path / "audit.db")
    AuditStore(path).close()  # create the schema before the writers race
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, w, 150, start)) for w in range(2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    with AuditStore(path) as store:
        assert store.verify().ok and store.verify().n == 300
        recs = list(store.records())
    assert [r.seq for r in recs] == list(range(1, 301))
    for w in range(2):  # each writer's records, all present, in its own order
        assert [r.payload["i"] for r in recs if r.payload["worker"] == w] == list(range(150))


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda s: s.append("", {}, posterior_version="1", bundle_hash="h"), "kind"),
        (lambda s: s.append("k", [1], posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {"x": math.nan}, posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {"x": object()}, posterior_version="1", bundle_hash="h"), "payload"),
        (lambda s: s.append("k", {}, posterior_version=None, bundle_hash="h"), "posterior_version"),
        (lambda s: s.append("k", {}, posterior_version="1", bundle_hash=""), "bundle_hash"),
        (
            lambda s: s.append_verdict({"decision": "ALLOW"}, posterior_version="1", bundle_hash="h"),
            "verdict",
        ),
    ],
)
def test_bad_input_raises_naming_the_field_and_writes_nothing(tmp_path, call, field):
    with AuditStore(tmp_path / "a.db") as store:
        with pytest.raises(ValueError, match=field):
            call(store)
        assert len(store) == 0 and store.head() == Head(0, ZERO)


@pytest.mark.parametrize("url", ["postgresql://localhost/db", "sqlite://relative.db", "sqlite:///"])
def test_unsupported_urls_are_refused(url):
    with pytest.raises(ValueError, match="path_or_url"):
        AuditStore(url)


def test_cli_audit_verify_exits_0_when_intact_and_1_naming_the_first_bad_record(tmp_path, capsys):
    path = tmp_path / "audit.db"
    fill(path, 12)
    assert main(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "intact: 12 records" in out
    anchor = out.split("head ")[1].split()[0]
    assert (
        main(["audit", "verify", f"sqlite:///{path}", "--anchor", anchor, "--out", str(tmp_path / "o")]) == 0
    )
    assert json.loads((tmp_path / "o" / "audit_verify.json").read_text())["ok"] is True
    capsys.readouterr()
    raw(path, ("DELETE FROM records WHERE seq = 12",))
    assert main(["audit", "verify", str(path)]) == 0  # a truncated tail: invisible without the anchor
    capsys.readouterr()
    assert main(["audit", "verify", str(path), "--anchor", anchor]) == 1
    assert "seq 12" in capsys.readouterr().out
    raw(path, ("UPDATE records SET payload = '{}' WHERE seq = 5",))
    assert main(["audit", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "seq 5" in out and "hash mismatch" in out
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", str(tmp_path / "missing.db")])
    assert exc.value.code == 2 and not (tmp_path / "missing.db").exists()
    assert "no audit store" in capsys.readouterr().err
