"""What the audit store holds beyond the chain, on SQLite and on a real PostgreSQL (``audit_url``): unique
refs (a duplicate writes nothing), batches written all or nothing, the ASK queue (opened by an ASK
verdict, answered once: of two processes answering at once exactly one wins; tampering with the queue
is found by verify), filtered queries and counts, and API keys (only a hash stored; revoked keys fail)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sqlite3

import pytest
from store_helpers import ZERO, raw, reference_hash

from bayesguard.guard.verdict import Decision, Verdict
from bayesguard.service.store import (
    AskAlreadyAnswered,
    AskNotFound,
    AuditStore,
    DuplicateRef,
    Entry,
    verdict_entry,
)

V = {"posterior_version": "3", "bundle_hash": "b" * 64}


def verdict(decision: Decision, action: int | None = 1) -> Verdict:
    return Verdict(
        decision=decision, action=action, harm_estimate=0.2, posterior_harm=0.2, threshold=0.1, rule="r"
    )


def test_a_ref_is_unique_and_a_duplicate_writes_nothing(audit_url):
    with AuditStore(audit_url) as store:
        first = store.append("note", {"a": 1}, ref="req-1", **V)
        head = store.head()
        with pytest.raises(DuplicateRef) as exc:
            store.append("note", {"a": 2}, ref="req-1", **V)
        assert isinstance(exc.value, ValueError) and exc.value.record == first
        with pytest.raises(DuplicateRef):
            store.append_verdict(verdict(Decision.ALLOW), ref="req-1", **V)
        assert store.head() == head and len(store) == 1
        assert store.by_ref("req-1") == first and store.by_ref("nope") is None
        with pytest.raises(ValueError, match="ref"):
            store.by_ref(None)
        assert store.append("note", {"a": 3}, **V).ref is None  # refs are optional, NULLs never clash
        assert store.append("note", {"a": 4}, **V).seq == 3


def test_append_many_is_one_transaction_all_or_nothing(audit_url):
    with AuditStore(audit_url) as store:
        store.append("note", {}, ref="taken", **V)
        batch = [
            Entry("note", {"i": 0}, "3", "h", "a"),
            verdict_entry(verdict(Decision.ASK), ref="q1", request={"ctx": [1]}, **V),
            Entry("note", {"i": 2}, "3", "h"),
        ]
        recs = store.append_many(batch)
        assert [r.seq for r in recs] == [2, 3, 4] and list(store.records(2)) == recs
        assert len({r.created for r in recs}) == 1 and recs[1].request == {"ctx": [1]}
        assert store.ask_status("q1") == "open"
        head = store.head()
        with pytest.raises(DuplicateRef) as exc:  # the 3rd entry's ref is taken: not even the 1st is written
            store.append_many(
                [
                    Entry("note", {}, "3", "h", "n1"),
                    Entry("note", {}, "3", "h"),
                    Entry("k", {}, "3", "h", "a"),
                ]
            )
        assert exc.value.record.seq == 2
        with pytest.raises(ValueError, match=r"entries\[2\]\.payload"):
            store.append_many(
                [Entry("note", {}, "3", "h", "n1"), Entry("note", {}, "3", "h"), Entry("k", [], "3", "h")]
            )
        with pytest.raises(ValueError, match=r"entries\[1\]\.ref"):
            store.append_many([Entry("note", {}, "3", "h", "n1"), Entry("note", {}, "3", "h", "n1")])
        with pytest.raises(ValueError, match=r"entries\[0\]"):
            store.append_many(["not an entry"])
        assert store.head() == head and store.by_ref("n1") is None and store.append_many([]) == []
        assert store.verify().ok


def test_an_ask_verdict_opens_an_ask_answered_exactly_once(audit_url):
    with AuditStore(audit_url) as store:
        store.append_verdict(verdict(Decision.ASK, 4), ref="q1", **V)
        store.append_verdict(verdict(Decision.ALLOW), ref="ok1", **V)
        store.append_verdict(verdict(Decision.ASK), **V)  # no ref: nothing to answer it by
        store.append_verdict(verdict(Decision.ASK, 5), ref="q2", **V)
        assert [r.ref for r in store.open_asks()] == ["q1", "q2"] and [r.ref for r in store.open_asks(1)] == [
            "q1"
        ]
        assert (store.ask_status("q1"), store.ask_status("ok1"), store.ask_status("x")) == (
            "open",
            None,
            None,
        )
        ans = store.answer_ask("q1", {"decision": "REJECT", "by": "ann"}, ref="a1", **V)
        assert (ans.kind, ans.payload, ans.seq) == (
            "answer",
            {"ask": "q1", "decision": "REJECT", "by": "ann", "ref": "a1"},
            5,
        )
        assert store.ask_status("q1") == "answered" and [r.ref for r in store.open_asks()] == ["q2"]
        with pytest.raises(AskAlreadyAnswered) as exc:
            store.answer_ask("q1", {"decision": "ALLOW"}, **V)
        assert exc.value.answer_seq == 5 and isinstance(exc.value, ValueError)
        for missing in ("nope", "ok1"):
            with pytest.raises(AskNotFound) as lost:
                store.answer_ask(missing, {}, **V)
            assert isinstance(lost.value, KeyError)
        with pytest.raises(ValueError, match="payload.ask"):
            store.answer_ask("q2", {"ask": "q1"}, **V)
        with pytest.raises(DuplicateRef):  # a taken ref: the ask stays open
            store.answer_ask("q2", {}, ref="a1", **V)
        assert len(store) == 5 and store.ask_status("q2") == "open" and store.verify().ok
        with pytest.raises(ValueError, match="limit"):
            store.open_asks(0)


def _answerer(url: str, refs: list, start, out) -> None:
    start.wait()
    won = []
    with AuditStore(url) as store:
        for ref in refs:
            try:
                won.append(store.answer_ask(ref, {"decision": "ALLOW"}, **V).seq)
            except AskAlreadyAnswered:
                pass
    out.put(won)


def test_two_processes_answering_at_once_exactly_one_wins_each_ask(audit_url):
    refs = [f"q{i}" for i in range(15)]
    with AuditStore(audit_url) as store:
        store.append_many([verdict_entry(verdict(Decision.ASK), ref=r, **V) for r in refs])
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_answerer, args=(audit_url, refs, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    won = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(won[0] + won[1]) == list(range(16, 31))  # 15 answers in all, one per ask
    with AuditStore(audit_url) as store:
        answers = list(store.records(kind="answer"))
        assert sorted(a.payload["ask"] for a in answers) == sorted(refs) and store.open_asks() == []
        assert store.verify().ok


@pytest.mark.parametrize(
    "tamper, first_bad, fault",
    [
        ([("DELETE FROM asks WHERE ref = 'q2'",)], 3, "ask mismatch"),  # hides a pending ASK
        ([("UPDATE asks SET status = 'answered', answer_seq = 2 WHERE ref = 'q2'",)], 3, "ask mismatch"),
        ([("UPDATE asks SET status = 'open', answer_seq = NULL WHERE ref = 'q1'",)], 4, "ask mismatch"),
        ([("INSERT INTO asks VALUES ('fake', 2, 'open', NULL)",)], 2, "ask mismatch"),
        ([("UPDATE records SET decision = 'ALLOW' WHERE seq = 3",)], 3, "column mismatch"),
        ([("UPDATE records SET action = 9 WHERE seq = 1",)], 1, "column mismatch"),
    ],
)
def test_verify_finds_a_tampered_ask_queue(audit_url, tamper, first_bad, fault):
    with AuditStore(audit_url) as store:
        store.append_verdict(verdict(Decision.ASK), ref="q1", **V)
        store.append_verdict(verdict(Decision.ALLOW), ref="a", **V)
        store.append_verdict(verdict(Decision.ASK), ref="q2", **V)
        store.answer_ask("q1", {"decision": "ALLOW"}, **V)
        assert store.verify().ok
    raw(audit_url, *tamper)
    with AuditStore(audit_url) as store:
        found = store.verify()
    assert (found.ok, found.first_bad) == (False, first_bad) and found.reason.startswith(fault), found


def test_query_and_count_filter_by_kind_decision_action_and_time(audit_url):
    with AuditStore(audit_url) as store:
        for i in range(12):
            store.append_verdict(verdict([Decision.ALLOW, Decision.REJECT, Decision.ASK][i % 3], i % 2), **V)
        store.append("note", {}, **V)
        t = store.get(7).created
        assert store.count() == 13 == len(store) and store.count(kind="verdict") == 12
        assert [r.seq for r in store.query(decision="ASK")] == [12, 9, 6, 3]
        assert [r.seq for r in store.query(decision="ASK", newest_first=False, limit=2, offset=1)] == [6, 9]
        assert [r.seq for r in store.query(decision=Decision.REJECT, action=1)] == [8, 2]
        assert store.count(action=0) == 6 and store.count(kind="note", decision="ALLOW") == 0
        assert [r.seq for r in store.query(since=t)] == list(range(13, 6, -1))
        assert store.count(until=t) == 6 and store.count(since="2000-01-01", until="2000-01-02T00:00Z") == 0
        assert store.count(since=t.replace("+00:00", "+01:00")) == 13  # an hour earlier, as UTC
        assert len(store.query(limit=1000)) == 13 and store.query(offset=13) == []
        for bad, field in [
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"offset": -1}, "offset"),
            ({"decision": "MAYBE"}, "decision"),
            ({"action": "1"}, "action"),
            ({"action": True}, "action"),
            ({"since": "yesterday"}, "since"),
            ({"until": 5}, "until"),
            ({"kind": ""}, "kind"),
            ({"newest_first": "yes"}, "newest_first"),
        ]:
            with pytest.raises(ValueError, match=field):
                store.query(**bad)


def test_api_keys_store_only_a_hash_and_revoked_keys_fail(audit_url):
    with AuditStore(audit_url) as store:
        secret = store.add_key("ops", ["check", "observe"])
        admin = store.add_key("root@x", {"admin"})
        assert secret.startswith("bgk_") and len(secret) > 40 and secret != admin
        key = store.authenticate(secret)
        assert (key.name, key.scopes, key.revoked) == ("ops", frozenset({"check", "observe"}), None)
        assert store.authenticate(admin).scopes == {"admin"}
        for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "bgk_", "", None, 12, secret + "x"):
            assert store.authenticate(wrong) is None
        rows = raw(audit_url, ("SELECT name, key_hash, scopes, created FROM api_keys ORDER BY name",))
        assert all(secret not in str(v) for row in rows for v in row)
        assert rows[0][1] == hashlib.sha256(secret.encode()).hexdigest()
        store.revoke_key("ops")
        store.revoke_key("ops")
        assert store.authenticate(secret) is None and store.authenticate(admin) is not None
        assert [(k.name, k.revoked is not None) for k in store.keys()] == [("ops", True), ("root@x", False)]
        with pytest.raises(KeyError, match="nobody"):
            store.revoke_key("nobody")
        for name, scopes, field in [
            ("ops", ["check"], "name"),
            ("", ["check"], "name"),
            ("a b", ["check"], "name"),
            ("new", ["check", "root"], "scopes"),
            ("new", [], "scopes"),
            ("new", "check", "scopes"),
        ]:
            with pytest.raises(ValueError, match=field):
                store.add_key(name, scopes)
        assert len(store) == 0 and store.verify().ok  # keys are not in the chain


def test_a_sqlite_store_from_before_the_indexed_columns_is_brought_up_to_date(tmp_path):
    path = tmp_path / "old.db"
    old_verdict = json.loads(verdict(Decision.ASK, 6).to_json())  # the old form: the payload is the verdict
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, created TEXT NOT NULL, "
        "posterior_version TEXT NOT NULL, bundle_hash TEXT NOT NULL, payload TEXT NOT NULL, "
        "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
    )
    prev = ZERO
    for seq, (kind, payload) in enumerate([("verdict", old_verdict), ("ask", {"q": 1})], start=1):
        digest = reference_hash(prev, seq, kind, "2024-01-01T00:00:00.000000+00:00", "1", "h", payload)
        row = (seq, kind, "2024-01-01T00:00:00.000000+00:00", "1", "h", json.dumps(payload), prev, digest)
        db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        prev = digest
    db.commit()
    db.close()
    with AuditStore(path) as store:
        assert store.verify().ok and store.query(decision="ASK", action=6)[0].seq == 1
        [(rec, v)] = list(store.verdicts())
        assert (rec.decision, rec.action, rec.ref, v.action) == ("ASK", 6, None, 6)
        assert store.append("note", {}, ref="n", **V).seq == 3 and store.verify().ok


@pytest.mark.parametrize("audit_url", ["sqlite", "postgresql"], indirect=True)
def test_count_open_asks_follows_the_queue(audit_url):
    from bayesguard.service.store import AuditStore

    with AuditStore(audit_url) as store:
        before = store.count_open_asks()
        assert before == len(store.open_asks(limit=1000)) == 0
        for k in range(3):
            v = Verdict(
                decision="ASK",
                action=0,
                harm_estimate=0.5,
                posterior_harm=0.1,
                threshold=0.2,
                rule="cautious",
            )
            store.append_verdict(v, posterior_version="v:0", bundle_hash="b" * 64, ref=f"ask-{k}")
        assert store.count_open_asks() == 3
        store.answer_ask("ask-1", {"approve": True}, posterior_version="v:0", bundle_hash="b" * 64)
        assert store.count_open_asks() == 2 == len(store.open_asks())
