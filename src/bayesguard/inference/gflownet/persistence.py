"""Saved DAG-GFlowNet samplers: what a file holds, and its validation before anything is allocated.

Files go through :mod:`bayesguard.artefact` (kind ``"gflownet"``, a checksummed, pickle-free ``.npz``);
the family names the structure problem (``d``, the variable names, the local score and the prior's
required / forbidden edges) and is checked against the score given to the reader; sizes are bounded
before a network is allocated and every weight is checked for name, dtype, shape and finiteness.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ...artefact import ArtefactError, load_arrays, save_arrays
from ...theories.causal.structure import StructureScore
from .config import GFlowNetConfig

KIND = "gflownet"
VERSION = 1
#: Upper bounds on the sizes a saved sampler may declare, checked before anything is allocated.
LOAD_LIMITS = {"hidden": 65536, "layers": 64, "batch_size": 2**20, "n_envs": 2**16, "buffer_size": 2**24}


def policy_shapes(d: int, hidden: int, layers: int) -> dict[str, tuple[int, ...]]:
    """``state_dict`` name -> shape of :class:`~.policy.EdgePolicy` ``(d, hidden, layers)``, computed
    without building it (so a file's shapes are checked before a network is allocated)."""
    shapes: dict[str, tuple[int, ...]] = {}
    width = 2 * d * d
    for k in range(layers):
        shapes[f"body.{3 * k}.weight"] = (hidden, width)
        shapes[f"body.{3 * k}.bias"] = (hidden,)
        shapes[f"body.{3 * k + 1}.weight"] = (hidden,)
        shapes[f"body.{3 * k + 1}.bias"] = (hidden,)
        width = hidden
    shapes["edge_head.weight"] = (d * d, hidden)
    shapes["edge_head.bias"] = (d * d,)
    shapes["stop_head.weight"] = (1, hidden)
    shapes["stop_head.bias"] = (1,)
    return shapes


def problem_description(score: StructureScore) -> dict[str, Any]:
    """The structure problem a sampler is trained for, as JSON: ``d``, ``names``, the local score's class,
    and the prior's ``required`` and ``forbidden`` edges (``[i, j]`` lists)."""
    prior = score.prior
    return {
        "d": int(score.d),
        "names": [str(n) for n in score.names],
        "scorer": type(score.scorer).__name__,
        "required": np.argwhere(prior.required).tolist(),  # type: ignore[union-attr]
        "forbidden": np.argwhere(prior.forbidden).tolist(),  # type: ignore[union-attr]
    }


def problem_family(score: StructureScore) -> str:
    """``"dag-structure:d=<d>:<16 hex digits>"``: ``d`` and a hash of :func:`problem_description`."""
    text = json.dumps(problem_description(score), sort_keys=True, separators=(",", ":"))
    return f"dag-structure:d={score.d}:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SavedSampler:
    """The validated content of a file: ``config`` (on the requested device), the training counters and
    the policy weights (name -> float32 array of the shape :func:`policy_shapes` gives)."""

    config: GFlowNetConfig
    steps: int
    train_seconds: float
    weights: dict[str, np.ndarray]


def write_sampler(
    path: str | Path,
    score: StructureScore,
    config: GFlowNetConfig,
    weights: dict[str, np.ndarray],
    steps: int,
    train_seconds: float,
) -> Path:
    """Write ``weights`` (the policy's ``state_dict`` as float32 arrays) with
    :func:`~bayesguard.artefact.save_arrays` (kind ``"gflownet"``, family :func:`problem_family`).

    Meta: ``d``, ``names``, ``problem`` (:func:`problem_description`), ``config`` (without ``device``),
    ``steps``, ``train_seconds``. No pickle: loading it never runs code.
    """
    saved_config = asdict(config)
    saved_config.pop("device")
    meta = {
        "d": score.d,
        "names": [str(n) for n in score.names],
        "problem": problem_description(score),
        "config": saved_config,
        "steps": int(steps),
        "train_seconds": float(train_seconds),
    }
    return save_arrays(path, KIND, VERSION, weights, family=problem_family(score), meta=meta)


def read_sampler(path: str | Path, score: StructureScore, device: str = "cpu") -> SavedSampler:
    """Read and validate a file written by :func:`write_sampler` for the structure problem of ``score``.

    Checked, in order, before any network is built: the format version, checksum and family (the
    problem: ``d``, names, score, prior), ``steps >= 0`` (an integer), ``train_seconds >= 0``, the config
    (known fields; ``hidden``, ``layers``, ``batch_size``, ``n_envs``, ``buffer_size`` positive integers
    within :data:`LOAD_LIMITS`); then every weight's name, dtype, shape and finiteness; then the config's
    own validation (with ``device``).

    Raises:
        ValueError: an :class:`~bayesguard.artefact.ArtefactError` naming the file and field.
    """
    arrays, head = load_arrays(path, KIND, (VERSION,))
    meta = head["meta"]
    mine = problem_description(score)
    if head["family"] != problem_family(score) or meta.get("problem") != mine:
        saved = meta.get("problem")
        raise ArtefactError(
            f"{path}: score: the saved sampler is for another structure problem ({json.dumps(saved)}), "
            f"got {json.dumps(mine)}"
        )
    steps = meta.get("steps")
    if not _is_int(steps) or steps < 0:
        raise ArtefactError(f"{path}: steps: expected an integer >= 0, got {steps!r}")
    seconds = meta.get("train_seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < math.inf:
        raise ArtefactError(f"{path}: train_seconds: expected a finite number >= 0, got {seconds!r}")
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ArtefactError(f"{path}: config: expected a JSON object, got {config!r}")
    known = {f.name for f in fields(GFlowNetConfig)} - {"device"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ArtefactError(f"{path}: config: unknown fields {unknown}; known: {sorted(known)}")
    for name, limit in LOAD_LIMITS.items():
        value = config.get(name)
        if not _is_int(value) or not 1 <= value <= limit:
            raise ArtefactError(f"{path}: config.{name}: expected an integer in [1, {limit}], got {value!r}")
    shapes = policy_shapes(score.d, config["hidden"], config["layers"])
    extra = sorted(set(arrays) - set(shapes))
    if extra:
        raise ArtefactError(f"{path}: unexpected arrays {extra} for a policy of this config")
    for name, shape in shapes.items():
        a = arrays.get(name)
        if a is None:
            raise ArtefactError(f"{path}: {name}: missing (expected a float32 array of shape {shape})")
        if a.dtype != np.float32 or a.shape != shape:
            raise ArtefactError(
                f"{path}: {name}: expected a float32 array of shape {shape}, got {a.dtype} {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ArtefactError(f"{path}: {name}: expected finite weights, found NaN or infinity")
    try:
        cfg = GFlowNetConfig(**{**config, "device": device})
    except (TypeError, ValueError) as exc:
        raise ArtefactError(f"{path}: config: {exc}") from exc
    return SavedSampler(cfg, int(steps), float(seconds), {name: arrays[name] for name in shapes})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
