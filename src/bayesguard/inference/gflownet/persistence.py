"""Saved DAG-GFlowNet samplers: what a file holds, and its validation before anything is allocated.

Files go through :mod:`bayesguard.artefact` (kind ``"gflownet"``, a checksummed, pickle-free ``.npz``);
the family names the structure problem (``d``, the variable names, the local score and the prior's
required / forbidden edges) and is checked against the score given to the reader; sizes are bounded
before a network is allocated and every weight is checked for name, dtype, shape and finiteness.

Format version 1. Files record the policy kind (``config.policy``, ``config.heads``) and the environment's
masks (``meta.constraints``, and the bool array ``constraint.candidates`` when candidate parents were
given). Files written before these fields existed (no ``policy``, ``heads`` or ``constraints``) hold an MLP
policy without masks and are read as such; readers that predate them refuse every newer file (its config
has fields they do not know), so the version number did not need to change.
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
from .config import GFlowNetConfig, PolicyKind
from .env import check_constraints
from .policy_attention import attention_policy_shapes

KIND = "gflownet"
VERSION = 1
#: Upper bounds on the sizes a saved sampler may declare, checked before anything is allocated.
LOAD_LIMITS = {
    "hidden": 65536,
    "layers": 64,
    "batch_size": 2**20,
    "n_envs": 2**16,
    "buffer_size": 2**24,
    "heads": 4096,
}
#: The array holding the candidate-parent mask, when one was given.
CANDIDATES = "constraint.candidates"
#: Config fields added with the attention policy: absent together from files written before them.
_POLICY_FIELDS = ("policy", "heads")


def policy_shapes(d: int, hidden: int, layers: int, policy: str = "mlp") -> dict[str, tuple[int, ...]]:
    """``state_dict`` name -> shape of the policy network of kind ``policy`` (``"mlp"``:
    :class:`~.policy.EdgePolicy`, ``"attention"``: :class:`~.policy_attention.AttentionEdgePolicy`) of
    ``(d, hidden, layers)``, computed without building it (so a file's shapes are checked before a
    network is allocated)."""
    if PolicyKind(policy) is PolicyKind.ATTENTION:
        return attention_policy_shapes(d, hidden, layers)
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
    """The validated content of a file: ``config`` (on the requested device), the training counters,
    the policy weights (name -> float32 array of the shape :func:`policy_shapes` gives) and the
    environment's masks (``candidates`` ``(d, d)`` bool or None, ``max_parents`` or None)."""

    config: GFlowNetConfig
    steps: int
    train_seconds: float
    weights: dict[str, np.ndarray]
    candidates: np.ndarray | None = None
    max_parents: int | None = None


def write_sampler(
    path: str | Path,
    score: StructureScore,
    config: GFlowNetConfig,
    weights: dict[str, np.ndarray],
    steps: int,
    train_seconds: float,
    *,
    candidates: np.ndarray | None = None,
    max_parents: int | None = None,
) -> Path:
    """Write ``weights`` (the policy's ``state_dict`` as float32 arrays) with
    :func:`~bayesguard.artefact.save_arrays` (kind ``"gflownet"``, format :data:`VERSION`, family
    :func:`problem_family`), and the masks: ``candidates`` as the bool array :data:`CANDIDATES`.

    Meta: ``d``, ``names``, ``problem`` (:func:`problem_description`), ``config`` (without ``device``;
    with ``policy`` and ``heads``), ``constraints`` (``{"candidates": bool, "max_parents": int | None}``),
    ``steps``, ``train_seconds``. No pickle: loading it never runs code.
    """
    saved_config = asdict(config)
    saved_config.pop("device")
    arrays = dict(weights)
    if CANDIDATES in arrays:
        raise ValueError(f"weights: the name {CANDIDATES!r} is reserved for the candidate mask")
    if candidates is not None:
        arrays[CANDIDATES] = np.asarray(candidates, dtype=bool)
    meta = {
        "d": score.d,
        "names": [str(n) for n in score.names],
        "problem": problem_description(score),
        "config": saved_config,
        "constraints": {
            "candidates": candidates is not None,
            "max_parents": None if max_parents is None else int(max_parents),
        },
        "steps": int(steps),
        "train_seconds": float(train_seconds),
    }
    return save_arrays(path, KIND, VERSION, arrays, family=problem_family(score), meta=meta)


def read_sampler(path: str | Path, score: StructureScore, device: str = "cpu") -> SavedSampler:
    """Read and validate a file written by :func:`write_sampler` for the structure problem of ``score``.

    Checked, in order, before any network is built: the format version, checksum and family (the
    problem: ``d``, names, score, prior), ``steps >= 0`` (an integer), ``train_seconds >= 0``, the
    config (known fields; ``hidden``, ``layers``, ``batch_size``, ``n_envs``, ``buffer_size``, ``heads``
    positive integers within :data:`LOAD_LIMITS`; ``policy`` a :class:`~.config.PolicyKind`); the masks
    (``meta.constraints``, the candidate array's dtype and shape, then :func:`~.env.check_constraints`
    against the score's prior); then every weight's name, dtype, shape and finiteness; then the config's
    own validation (with ``device``). A file written before the policy kind and the masks were recorded
    (none of ``config.policy``, ``config.heads``, ``meta.constraints``) holds an MLP policy and no masks.

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
    legacy = not any(name in config for name in _POLICY_FIELDS) and "constraints" not in meta
    if legacy:  # written before the policy kind was recorded: an MLP policy, no masks
        config = {**config, "policy": PolicyKind.MLP.value, "heads": GFlowNetConfig.heads}
    for name, limit in LOAD_LIMITS.items():
        value = config.get(name)
        if not _is_int(value) or not 1 <= value <= limit:
            raise ArtefactError(f"{path}: config.{name}: expected an integer in [1, {limit}], got {value!r}")
    kinds = [k.value for k in PolicyKind]
    if config.get("policy") not in kinds:
        raise ArtefactError(f"{path}: config.policy: expected one of {kinds}, got {config.get('policy')!r}")
    candidates, max_parents = _read_constraints(path, legacy, meta, arrays, score)
    shapes = policy_shapes(score.d, config["hidden"], config["layers"], config["policy"])
    extra = sorted(set(arrays) - set(shapes) - {CANDIDATES})
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
    weights = {name: arrays[name] for name in shapes}
    return SavedSampler(cfg, int(steps), float(seconds), weights, candidates, max_parents)


def _read_constraints(
    path: str | Path, legacy: bool, meta: dict[str, Any], arrays: dict[str, np.ndarray], score: StructureScore
) -> tuple[np.ndarray | None, int | None]:
    """The masks of a file (``meta.constraints`` and :data:`CANDIDATES`), validated against ``score``;
    ``legacy``: a file written before masks existed (none, and no candidate array allowed)."""
    if legacy:
        if CANDIDATES in arrays:
            raise ArtefactError(f"{path}: {CANDIDATES}: present, but the file records no constraints")
        return None, None
    cons = meta.get("constraints")
    if not isinstance(cons, dict) or set(cons) != {"candidates", "max_parents"}:
        raise ArtefactError(
            f"{path}: constraints: expected a JSON object with fields candidates and max_parents, "
            f"got {cons!r}"
        )
    has, max_parents = cons["candidates"], cons["max_parents"]
    if not isinstance(has, bool):
        raise ArtefactError(f"{path}: constraints.candidates: expected true or false, got {has!r}")
    if max_parents is not None and (not _is_int(max_parents) or max_parents < 0):
        raise ArtefactError(
            f"{path}: constraints.max_parents: expected null or an integer >= 0, got {max_parents!r}"
        )
    candidates = arrays.get(CANDIDATES)
    if has != (candidates is not None):
        state = "missing" if has else "present, but constraints.candidates is false"
        raise ArtefactError(f"{path}: {CANDIDATES}: {state}")
    if candidates is not None and (candidates.dtype != np.bool_ or candidates.shape != (score.d, score.d)):
        raise ArtefactError(
            f"{path}: {CANDIDATES}: expected a bool array of shape ({score.d}, {score.d}), "
            f"got {candidates.dtype} {candidates.shape}"
        )
    try:
        return check_constraints(score, candidates, max_parents)
    except ValueError as exc:
        raise ArtefactError(f"{path}: constraints: {exc}") from exc


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
