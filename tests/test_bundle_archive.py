"""The archive form of a bundle (``.tar``, ``.tar.gz``, ``.tgz``): it round-trips for every family, and a
hostile or tampered archive is refused, naming the member, before anything is built from it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from bayesguard.service import build_bundle, fit_guard, load_bundle, verify_bundle
from bayesguard.service import bundle as bundle_module
from bayesguard.service.bundle import open_bundle

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "bundles"
ARMS = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)
CONTEXTS = {
    "plant": [{"ambient": a} for a in (-1.5, 0.0, 1.0)],
    "bandit": [ARMS, np.eye(3, 4), np.ones((3, 4))],
    "finite": [None],
}


def _verdicts(guard, contexts):
    return [
        (v.action, v.decision.value, v.harm_estimate, v.witness, v.guaranteed)
        for c in contexts
        for v in guard.check_all(c)
    ]


@pytest.fixture(scope="module")
def fitted():
    return {name: fit_guard(EXAMPLES / f"{name}.toml") for name in CONTEXTS}


@pytest.mark.parametrize("name", list(CONTEXTS))
@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz"])
def test_archive_round_trip(fitted, tmp_path, name, suffix):
    fit = fitted[name]
    out = build_bundle(fit.config, tmp_path / f"guard{suffix}", fitted=fit)
    assert out.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp left
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names[0] == "manifest.json" and set(names) == {"manifest.json", *verify_bundle(out)["files"]}
    bundle = open_bundle(out)
    assert _verdicts(bundle.guard, CONTEXTS[name]) == _verdicts(fit.guard, CONTEXTS[name])
    assert bundle.info["bundle_sha256"] == verify_bundle(out)["bundle_sha256"]
    with pytest.raises(ValueError, match="already exists"):
        build_bundle(fit.config, out, fitted=fit)
    build_bundle(fit.config, out, fitted=fit, overwrite=True)
    assert len({*names, "manifest.json"}) == len(names)


def test_an_archive_name_on_an_existing_directory_is_refused(fitted, tmp_path):
    (tmp_path / "g.tar").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        build_bundle(fitted["finite"].config, tmp_path / "g.tar", fitted=fitted["finite"], overwrite=True)


@pytest.fixture
def files(fitted, tmp_path):
    """The finite bundle's files (no data.csv), by name."""
    out = build_bundle(fitted["finite"].config, tmp_path / "dir", fitted=fitted["finite"])
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _member(name, data=b"", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def _archive(path, members):
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return path


def _valid(files):
    return [_member(n, files[n]) for n in ("manifest.json", "config.toml", "posterior.npz")]


def _flipped(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 1
    return bytes(b)


HOSTILE = {
    "absolute": (lambda f: [_member("/manifest.json", f["manifest.json"]), *_valid(f)[1:]], "absolute path"),
    "dotdot": (lambda f: [*_valid(f), _member("../config.toml", f["config.toml"])], r"'\.\.' component"),
    "symlink": (
        lambda f: [*_valid(f), _member("data.csv", kind=tarfile.SYMTYPE, link="/etc/passwd")],
        "a link",
    ),
    "hardlink": (
        lambda f: [*_valid(f), _member("data.csv", kind=tarfile.LNKTYPE, link="config.toml")],
        "a link",
    ),
    "directory": (
        lambda f: [_member("posterior.npz", kind=tarfile.DIRTYPE), *_valid(f)],
        "not a regular file",
    ),
    "fifo": (lambda f: [*_valid(f), _member("data.csv", kind=tarfile.FIFOTYPE)], "not a regular file"),
    "device": (lambda f: [*_valid(f), _member("data.csv", kind=tarfile.CHRTYPE)], "not a regular file"),
    "unknown name": (
        lambda f: [*_valid(f), _member("notes.txt", b"hi")],
        "'notes.txt' refused: not a bundle",
    ),
    "nested": (lambda f: [*_valid(f), _member("x/manifest.json", b"{}")], "not a bundle file"),
    "twice": (lambda f: [*_valid(f), _member("config.toml", f["config.toml"])], "given twice"),
    "unlisted": (
        lambda f: [*_valid(f), _member("data.csv", b"action,outcome\n0,1\n")],
        "data.csv: not listed",
    ),
    "missing": (lambda f: _valid(f)[:2], "posterior.npz: listed in the manifest but missing"),
    "no manifest": (lambda f: _valid(f)[1:], "manifest.json: missing"),
    "tampered": (
        lambda f: [*_valid(f)[:2], _member("posterior.npz", _flipped(f["posterior.npz"]))],
        "posterior.npz: SHA-256 does not match",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_archive_is_refused_before_anything_is_built(files, tmp_path, monkeypatch, case):
    make, message = HOSTILE[case]
    path = _archive(tmp_path / "hostile.tar", make(files))
    built = []
    monkeypatch.setattr(bundle_module, "rebuild_guard", lambda *a: built.append(a))
    with pytest.raises(ValueError, match=message):
        load_bundle(path)
    with pytest.raises(ValueError, match=message):
        verify_bundle(path)
    assert built == []  # nothing was built from an unverified archive
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "hostile.tar"]  # nothing extracted here


def test_the_valid_archive_of_the_same_members_loads(files, tmp_path):
    """The hostile cases above differ from this one only in the member they break."""
    guard = load_bundle(_archive(tmp_path / "ok.tar", _valid(files)))
    assert [v.decision.value for v in guard.check_all(None)] == ["REJECT", "ALLOW"]


@pytest.mark.parametrize("where", ["header", "data"])
def test_a_truncated_or_garbled_archive_is_refused(files, tmp_path, where):
    ok = _archive(tmp_path / "ok.tar", _valid(files))
    with tarfile.open(ok) as tar:
        last = tar.getmember("posterior.npz")
    cut = last.offset + 100 if where == "header" else last.offset_data + last.size // 2
    bad = tmp_path / "bad.tar"
    bad.write_bytes(ok.read_bytes()[:cut])
    with pytest.raises(ValueError, match="bad.tar"):
        load_bundle(bad)
    bad.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)  # a gzip magic, then noise
    with pytest.raises(ValueError, match="not a readable tar archive"):
        load_bundle(bad)
