"""A guard bundle: everything needed to rebuild a fitted guard, checksummed, as a directory or a tar.

Layout (format version :data:`VERSION`)::

    bundle/
      manifest.json   format, version, family, created, files {name: SHA-256}, bundle_sha256
      config.toml     the guard's configuration as given (causal, bandit or finite), data -> data.csv
      data.csv        a byte-for-byte copy of the data the posterior was computed from (a causal bundle
                      always has one; a bandit or finite bundle fitted without data has none)
      posterior.npz   the posterior over the family's theories (:meth:`Posterior.save`: no pickle, own
                      checksum)
      gflownet.npz    a causal guard sampled by a GFlowNet (``sampler.method = "gflownet"``): its trained
                      policy (:meth:`DAGGFlowNet.save`: no pickle, own checksum); no other bundle has one
      amortised.npz   a causal guard with ``[amortised]``: its validated harm network
                      (:meth:`AmortisedHarm.save`: no pickle, own checksum); no other bundle has one

Bundles with the optional ``gflownet.npz`` / ``amortised.npz`` keep format version 1 (a version-1 bundle
without them reads as before); the config says which of them a bundle must hold, and a missing, extra
or changed one is refused like any other file.

The same files as the flat members of a tar (``guard.tar``, ``guard.tar.gz``, ``guard.tgz``) make the
archive form (:mod:`.archive`). ``bundle_sha256`` is the SHA-256 of the manifest's other fields in
canonical JSON (sorted keys, no spaces); since those include every file's SHA-256 it names the whole
bundle. :func:`load_bundle` refuses (ValueError naming the file) a manifest whose hash does not match, a
listed file that is missing or whose bytes changed, and any file that is not listed; an archive's members
are checked in memory before anything is written or built. The hashes detect corruption and edits; they
are not a signature (whoever can rewrite the files can rewrite the manifest). Nothing is unpickled: the
manifest is strict JSON, the config TOML, the data CSV, the posterior and the networks
``allow_pickle=False`` artefacts.

A bundle is written to a temporary directory (or file) beside ``out``, every file fsynced, then renamed
into place, so a reader never sees half a bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..guard.guard import Guard
from .archive import is_archive_name, read_members, write_archive
from .config import FAMILIES, GuardConfig, load_config
from .families import AMORTISED, GFLOWNET, Fitted, artefact_files, fit_guard, rebuild_guard

VERSION = 1
FORMAT = "bayesguard.bundle"
MANIFEST = "manifest.json"
DATA = "data.csv"
#: The files every bundle holds; a causal bundle also holds ``data.csv``, the others may.
FILES = ("config.toml", "posterior.npz")
#: The files a causal bundle may also hold (its config says which: :func:`.families.artefact_files`).
OPTIONAL = (GFLOWNET, AMORTISED)
_KEYS = {"format", "version", "family", "created", "files", "bundle_sha256"}


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: where it is, its verified manifest, its configuration and the rebuilt guard.

    ``config.csv`` is where the data were read from: the bundle's ``data.csv``, or for an archive a
    temporary copy that no longer exists once the bundle is open. ``gflownet`` is a GFlowNet-sampled
    guard's trained sampler (:class:`~bayesguard.inference.gflownet.DAGGFlowNet`, loaded from
    ``gflownet.npz``), else None; the amortised network is the guard's ``bound.amortised``.
    """

    path: Path
    manifest: dict[str, Any]
    config: GuardConfig
    guard: Guard
    gflownet: Any = None

    @property
    def info(self) -> dict[str, Any]:
        """JSON-ready facts about the bundle: ``path``, ``family``, ``format``, ``version``, ``created``,
        ``bundle_sha256``, ``files`` (name -> SHA-256), ``n_actions``, ``action_names`` and ``rule``
        (``threshold``, ``alpha``, ``delta``)."""
        from .codecs import action_names

        m = self.manifest
        return {
            "path": str(self.path),
            "family": m["family"],
            "format": m["format"],
            "version": m["version"],
            "created": m["created"],
            "bundle_sha256": m["bundle_sha256"],
            "files": dict(m["files"]),
            "n_actions": self.guard.n_actions,
            "action_names": action_names(self.guard),
            "rule": {
                "threshold": self.config.threshold,
                "alpha": self.config.alpha,
                "delta": self.config.delta,
            },
        }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def manifest_hash(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest without its ``bundle_sha256`` field, in canonical JSON."""
    return hashlib.sha256(_canonical({k: v for k, v in manifest.items() if k != "bundle_sha256"})).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some filesystems do not fsync directories
        pass


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_files(fit: Fitted, tmp: Path) -> list[str]:
    """The bundle's files written into ``tmp``; returns their names, the manifest first."""
    cfg = fit.config
    names = list(FILES)
    if cfg.csv is not None:
        shutil.copyfile(cfg.csv, tmp / DATA)
        with (tmp / DATA).open("rb+") as fh:
            os.fsync(fh.fileno())
        names.append(DATA)
    _write(tmp / "config.toml", cfg.to_toml(csv=None if cfg.csv is None else DATA).encode("utf-8"))
    fit.posterior.save(tmp / "posterior.npz")
    for name, net in ((GFLOWNET, fit.gflownet), (AMORTISED, fit.amortised)):
        if name in artefact_files(cfg):
            if net is None:
                raise ValueError(f"fitted: the config asks for {name} but the fitted guard has no network")
            net.save(tmp / name)
            names.append(name)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "family": cfg.family,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {name: _sha256(tmp / name) for name in sorted(names)},
    }
    manifest["bundle_sha256"] = manifest_hash(manifest)
    _write(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    _fsync_dir(tmp)
    return [MANIFEST, *sorted(names)]


def build_bundle(
    config: GuardConfig | dict[str, Any] | str | Path,
    out: str | Path,
    *,
    base: str | Path = ".",
    overwrite: bool = False,
    fitted: Fitted | None = None,
) -> Path:
    """Fit the guard ``config`` describes and write its bundle to ``out``; returns ``out``.

    ``out`` is a directory, or a tar archive when its name ends in ``.tar``, ``.tar.gz`` or ``.tgz``. It
    must not exist unless ``overwrite`` (then the old bundle is replaced as a whole). Pass ``fitted``
    (from :func:`fit_guard` of the same config) to save a guard already fitted.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"out: {out} already exists (pass overwrite=True, or --overwrite, to replace it)")
    archive = is_archive_name(out)
    if archive and out.is_dir():
        raise ValueError(f"out: {out} is a directory; an archive name needs a file")
    fit = fitted if fitted is not None else fit_guard(config, base)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        names = _write_files(fit, tmp)
        if archive:
            write_archive({name: tmp / name for name in names}, out)
            shutil.rmtree(tmp)
        elif out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=parent))
            os.replace(out, old / "bundle")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _reject(*_: Any) -> Any:
    raise ValueError("a non-finite number")


def _check_manifest(raw: bytes, where: str) -> dict[str, Any]:
    """The manifest in ``raw``, checked: strict JSON, exactly its fields, this format and version, a
    known family, its own hash, and a well-formed list of files."""
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_reject)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: not strict JSON ({exc})") from exc
    if not isinstance(manifest, dict) or set(manifest) != _KEYS:
        raise ValueError(f"{where}: expected exactly the fields {sorted(_KEYS)}")
    if manifest["format"] != FORMAT or manifest["version"] != VERSION:
        raise ValueError(
            f"{where}: holds {manifest['format']!r} version {manifest['version']!r}; "
            f"this reader knows {FORMAT!r} version {VERSION} only"
        )
    if manifest_hash(manifest) != manifest["bundle_sha256"]:
        raise ValueError(f"{where}: bundle_sha256 does not match its content: the manifest was edited")
    family, files = manifest["family"], manifest["files"]
    if family not in FAMILIES:
        raise ValueError(f"{where}: unknown family {family!r}; this reader knows {list(FAMILIES)}")
    required = set(FILES) | ({DATA} if family == "causal" else set())
    allowed = set(FILES) | {DATA} | (set(OPTIONAL) if family == "causal" else set())
    if not isinstance(files, dict) or not required <= set(files) <= allowed:
        may = sorted(allowed - required)
        raise ValueError(f"{where}: files must list {sorted(required)} (and may list {may})")
    for name, digest in files.items():
        if not (
            isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        ):
            raise ValueError(f"{where}: files[{name!r}] is not a SHA-256 hex digest")
    return manifest


def _check_files(manifest: dict[str, Any], present: set[str], digest: Callable[[str], str], at: str) -> None:
    """Every listed file is present with its SHA-256, and nothing else is (``at`` prefixes names)."""
    files = manifest["files"]
    extra = sorted(present - set(files) - {MANIFEST})
    if extra:
        raise ValueError(f"{at}{extra[0]}: not listed in the manifest (the bundle was changed)")
    for name in sorted(files):
        if name not in present:
            raise ValueError(f"{at}{name}: listed in the manifest but missing")
        if digest(name) != files[name]:
            raise ValueError(
                f"{at}{name}: SHA-256 does not match the manifest: the file is corrupt or was edited"
            )


def _verify_dir(path: Path) -> dict[str, Any]:
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ValueError(f"{mpath}: missing (not a bayesguard bundle)")
    manifest = _check_manifest(mpath.read_bytes(), str(mpath))
    present = {p.name for p in path.iterdir()}
    for name in present:
        if not (path / name).is_file() or (path / name).is_symlink():
            raise ValueError(f"{path / name}: not a regular file")
    _check_files(manifest, present, lambda name: _sha256(path / name), f"{path}{os.sep}")
    return manifest


def _verify_archive(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    members = read_members(path, set(FILES) | set(OPTIONAL) | {DATA, MANIFEST})
    if MANIFEST not in members:
        raise ValueError(f"{path}:{MANIFEST}: missing (not a bayesguard bundle)")
    manifest = _check_manifest(members[MANIFEST], f"{path}:{MANIFEST}")
    _check_files(manifest, set(members), lambda n: hashlib.sha256(members[n]).hexdigest(), f"{path}:")
    return manifest, members


def verify_bundle(path: str | Path) -> dict[str, Any]:
    """Check a bundle's (directory's or archive's) manifest and every file's SHA-256; return the manifest.

    Raises ValueError naming the file: a missing, unparsable or edited ``manifest.json`` (its
    ``bundle_sha256`` does not match), a listed file that is missing or changed, an unlisted file, an
    unsafe archive member.
    """
    path = Path(path)
    if path.is_dir():
        return _verify_dir(path)
    if path.is_file():
        return _verify_archive(path)[0]
    raise ValueError(f"bundle: {path} is neither a bundle directory nor a bundle archive")


def _rebuild(directory: Path, manifest: dict[str, Any], path: Path) -> Bundle:
    cfg = load_config(directory / "config.toml")
    if cfg.family != manifest["family"]:
        raise ValueError(
            f"{path}: config.toml is family {cfg.family!r}, the manifest says {manifest['family']!r}"
        )
    if cfg.csv is not None and cfg.csv != directory / DATA:
        raise ValueError(f"{path}: config.toml: a bundle's data.csv must be 'data.csv', got {cfg.csv}")
    data = directory / DATA if DATA in manifest["files"] else None
    expected, listed = set(artefact_files(cfg)), set(manifest["files"]) & set(OPTIONAL)
    for name in sorted(expected ^ listed):
        why = (
            "config.toml needs it, the manifest does not list it"
            if name in expected
            else ("listed in the manifest, config.toml has no use for it")
        )
        raise ValueError(f"{path}: {name}: {why}")
    am = directory / AMORTISED if AMORTISED in expected else None
    guard = rebuild_guard(cfg, data, directory / "posterior.npz", am)
    sampler = None
    if GFLOWNET in expected:
        from .fit_samplers import load_gflownet

        sampler = load_gflownet(directory / GFLOWNET, guard.family)
    return Bundle(path, manifest, cfg, guard, sampler)


def open_bundle(path: str | Path) -> Bundle:
    """Verify a bundle (directory or archive; :func:`verify_bundle`) and rebuild its guard from the saved
    posterior (nothing is refitted or unpickled): it gives the same verdicts as the guard that was saved.
    An archive's members are verified in memory, then written to a private temporary directory that is
    removed once the guard is built."""
    path = Path(path)
    if path.is_dir():
        return _rebuild(path, _verify_dir(path), path)
    if not path.is_file():
        raise ValueError(f"bundle: {path} is neither a bundle directory nor a bundle archive")
    manifest, members = _verify_archive(path)
    with tempfile.TemporaryDirectory(prefix="bayesguard-bundle-") as tmp:
        for name, data in members.items():
            (Path(tmp) / name).write_bytes(data)
        return _rebuild(Path(tmp), manifest, path)


def load_bundle(path: str | Path) -> Guard:
    """The guard of a verified bundle (directory or archive); see :func:`open_bundle`."""
    return open_bundle(path).guard


def bundle_info(path: str | Path) -> dict[str, Any]:
    """:attr:`Bundle.info` of the bundle at ``path`` (verified and loaded; see :func:`open_bundle`)."""
    return open_bundle(path).info
