"""A guard bundle: one directory holding everything needed to rebuild a fitted guard, checksummed.

Layout (format version :data:`VERSION`)::

    bundle/
      manifest.json   format, version, family, created, files {name: SHA-256}, bundle_sha256
      config.toml     the guard's configuration as given (:class:`~.config.FitConfig`), data -> data.csv
      data.csv        a byte-for-byte copy of the data the posterior was computed from
      posterior.npz   the posterior over graphs (:meth:`Posterior.save`: no pickle, own checksum)

``bundle_sha256`` is the SHA-256 of the manifest's other fields in canonical JSON (sorted keys, no
spaces); since those include every file's SHA-256 it names the whole bundle. :func:`load_bundle` refuses
(ValueError naming the file) a manifest whose hash does not match, a listed file that is missing or whose
bytes changed, and any file that is not listed. The hashes detect corruption and edits; they are not a
signature (whoever can rewrite the files can rewrite the manifest). Nothing is unpickled: the manifest
is strict JSON, the config TOML, the data CSV, the posterior an ``allow_pickle=False`` artefact.

A bundle is written to a temporary directory beside ``out``, every file fsynced, then renamed into
place, so a reader never sees half a bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets.tables import validate_table
from ..guard.causal_guard import MEASURE_MAX_D, CausalGuard
from ..guard.guard import Guard
from ..posterior import Posterior
from ..theories.causal.graph_family import CausalFamily
from ..theories.causal.harm import HarmSpec
from ..theories.causal.prior import StructurePrior
from .config import FitConfig, Sampler, load_config, parse_config

VERSION = 1
FORMAT = "bayesguard.bundle"
MANIFEST = "manifest.json"
FILES = ("config.toml", "data.csv", "posterior.npz")
_KEYS = {"format", "version", "family", "created", "files", "bundle_sha256"}


@dataclass(frozen=True)
class Fitted:
    """A guard fitted from a config: the guard, its posterior over plain graphs ``(n, d, d)`` as saved,
    and the config it came from."""

    guard: Guard
    posterior: Posterior
    config: FitConfig


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


def _spec_and_table(cfg: FitConfig, csv: Path) -> tuple[HarmSpec, Any]:
    kind = "discrete" if cfg.kind == "discrete" else "continuous"
    table = validate_table(csv, kind, categories=cfg.categories)
    spec = HarmSpec(
        table.names,
        cfg.harm,
        cfg.actions,
        cfg.context,
        categories=table.categories,
        action_names=cfg.action_names,
    )
    return spec, table


def _prior(cfg: FitConfig, names: tuple[str, ...]) -> StructurePrior:
    if cfg.prior == "erdos-renyi":
        return StructurePrior.make(names, kind="erdos-renyi", expected_edges=cfg.expected_edges)
    return StructurePrior.make(names)


def _guard(cfg: FitConfig, spec: HarmSpec, table: Any, prior: StructurePrior, posterior: Posterior) -> Guard:
    return CausalGuard(
        spec,
        table,
        posterior,
        prior=prior,
        threshold=cfg.threshold,
        alpha=cfg.alpha,
        delta=cfg.delta,
        n_theories=cfg.n_theories,
        n_param_draws=cfg.n_param_draws,
        seed=cfg.seed,
        measure_error=False,  # a sampled posterior was measured once, when fitted (see fit_guard)
    )


def fit_guard(config: FitConfig | dict[str, Any] | str | Path, base: str | Path = ".") -> Fitted:
    """Fit the guard a config describes: read the CSV, compute the posterior over graphs (exact
    enumeration, or structure MCMC with its edge-marginal error measured against the exact DP when
    ``d <= MEASURE_MAX_D``) and build the :func:`CausalGuard`.

    Args:
        config: a :class:`FitConfig`, a parsed TOML mapping (``data.csv`` relative to ``base``) or the
            path of a TOML file (relative to its directory).
    """
    cfg = _as_config(config, base)
    if not cfg.csv.is_file():
        raise ValueError(f"data.csv: no CSV file at {cfg.csv}")
    spec, table = _spec_and_table(cfg, cfg.csv)
    prior = _prior(cfg, spec.names)
    family = CausalFamily(spec, table, prior, n_param_draws=cfg.n_param_draws, seed=cfg.seed)
    if cfg.sampler is Sampler.EXACT:
        if spec.d > 5:
            raise ValueError(
                f"sampler.method: 'exact' enumerates DAGs on d <= 5 variables; d = {spec.d}: use 'mcmc'"
            )
        from ..inference.exact import exact_structure_posterior

        posterior = exact_structure_posterior(family.score)
    else:
        from ..inference.mcmc import structure_mcmc

        run = structure_mcmc(
            family.score, n_chains=max(cfg.n_chains, 2), n_steps=cfg.n_steps, seed=cfg.seed, progress=False
        )
        posterior = run.posterior()
        if spec.d <= MEASURE_MAX_D:
            from ..inference.dp_sampler import measure_against_dp
            from ..inference.dp_structure import structure_dp

            posterior = measure_against_dp(posterior, structure_dp(family.score), strict=False)
    return Fitted(_guard(cfg, spec, table, prior, posterior), posterior, cfg)


def _as_config(config: FitConfig | dict[str, Any] | str | Path, base: str | Path) -> FitConfig:
    if isinstance(config, FitConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    if isinstance(config, dict):
        return parse_config(config, base)
    raise TypeError(f"config: expected a FitConfig, a TOML mapping or a path, got {type(config).__name__}")


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


def build_bundle(
    config: FitConfig | dict[str, Any] | str | Path,
    out: str | Path,
    *,
    base: str | Path = ".",
    overwrite: bool = False,
    fitted: Fitted | None = None,
) -> Path:
    """Fit the guard ``config`` describes and write its bundle to the directory ``out``; returns ``out``.

    ``out`` must not exist unless ``overwrite`` (then the old bundle is replaced as a whole). Pass
    ``fitted`` (from :func:`fit_guard` of the same config) to save a guard already fitted.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"out: {out} already exists (pass overwrite=True, or --overwrite, to replace it)")
    fit = fitted if fitted is not None else fit_guard(config, base)
    cfg = fit.config
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        shutil.copyfile(cfg.csv, tmp / "data.csv")
        with (tmp / "data.csv").open("rb+") as fh:
            os.fsync(fh.fileno())
        _write(tmp / "config.toml", cfg.to_toml(csv="data.csv").encode("utf-8"))
        fit.posterior.save(tmp / "posterior.npz")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "family": cfg.family,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {name: _sha256(tmp / name) for name in FILES},
        }
        manifest["bundle_sha256"] = manifest_hash(manifest)
        _write(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
        _fsync_dir(tmp)
        if out.exists():
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


def verify_bundle(path: str | Path) -> dict[str, Any]:
    """Check a bundle's manifest and every file's SHA-256; return the manifest.

    Raises ValueError naming the file: a missing, unparsable or edited ``manifest.json`` (its
    ``bundle_sha256`` does not match), a listed file that is missing or changed, an unlisted file.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"bundle: {path} is not a directory")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ValueError(f"{mpath}: missing (not a bayesguard bundle)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"), parse_constant=_reject)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{mpath}: not strict JSON ({exc})") from exc
    if not isinstance(manifest, dict) or set(manifest) != _KEYS:
        raise ValueError(f"{mpath}: expected exactly the fields {sorted(_KEYS)}")
    if manifest["format"] != FORMAT or manifest["version"] != VERSION:
        raise ValueError(
            f"{mpath}: holds {manifest['format']!r} version {manifest['version']!r}; "
            f"this reader knows {FORMAT!r} version {VERSION}"
        )
    if manifest_hash(manifest) != manifest["bundle_sha256"]:
        raise ValueError(f"{mpath}: bundle_sha256 does not match its content: the manifest was edited")
    files = manifest["files"]
    if not isinstance(files, dict) or set(files) != set(FILES):
        raise ValueError(f"{mpath}: files must list exactly {list(FILES)}")
    present = {p.name for p in path.iterdir()}
    extra = sorted(present - set(FILES) - {MANIFEST})
    if extra:
        raise ValueError(f"{path / extra[0]}: not listed in the manifest (the bundle was changed)")
    for name in FILES:
        f = path / name
        if not f.is_file():
            raise ValueError(f"{f}: listed in the manifest but missing")
        if _sha256(f) != files[name]:
            raise ValueError(f"{f}: SHA-256 does not match the manifest: the file is corrupt or was edited")
    return manifest


def load_bundle(path: str | Path) -> Guard:
    """Verify a bundle (:func:`verify_bundle`) and rebuild its guard from the saved posterior (nothing is
    refitted or unpickled); it gives the same verdicts as the guard that was saved."""
    path = Path(path)
    verify_bundle(path)
    cfg = load_config(path / "config.toml")
    spec, table = _spec_and_table(cfg, path / "data.csv")
    posterior = Posterior.load(path / "posterior.npz")
    if np.asarray(posterior.theories).ndim != 3:
        raise ValueError(f"{path / 'posterior.npz'}: expected graphs (n, d, d)")
    return _guard(cfg, spec, table, _prior(cfg, spec.names), posterior)
