"""Saved artefacts under corruption: every single-bit flip and a truncation is either refused with an error
naming the file, or harmless (the file loads to content bit-identical to the original).

Three kinds of file go through :mod:`bayesguard.artefact`: a posterior-like artefact (read back with
:func:`load_arrays`), an amortised harm network and a DAG-GFlowNet (read back only through their own
loaders). 200 seeded random bit flips per file; a flip in zip metadata that changes no content (a
timestamp, a version field) may load, and must then give exactly the original content.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bayesguard.artefact import ArtefactError, load_arrays, save_arrays

torch = pytest.importorskip("torch")

from bayesguard.datasets import sample_linear_gaussian_scm  # noqa: E402
from bayesguard.inference.gflownet import DAGGFlowNet, GFlowNetConfig  # noqa: E402
from bayesguard.marginal.amortised import AmortisedHarm  # noqa: E402
from bayesguard.theories.causal.harm import HarmSpec  # noqa: E402
from bayesguard.theories.causal.scores import BGeScore  # noqa: E402
from bayesguard.theories.causal.structure import StructureScore  # noqa: E402

N_FLIPS = 200


def flip_bit(data: bytes, position: int) -> bytes:
    """``data`` with bit ``position % 8`` of byte ``position // 8`` inverted."""
    out = bytearray(data)
    out[position // 8] ^= 1 << (position % 8)
    return bytes(out)


# ---------------------------------------------------------------------- the three artefacts
def posterior_file(tmp_path: Path) -> tuple[Path, object]:
    """A small posterior-like artefact: ``theories (20, 3, 3)`` bool graphs and ``log_weights (20,)``."""
    rng = np.random.default_rng(0)
    theories = np.triu(rng.random((20, 3, 3)) < 0.5, k=1)
    log_weights = rng.standard_normal(20)
    path = save_arrays(
        tmp_path / "posterior.npz",
        "posterior",
        1,
        {"theories": theories, "log_weights": log_weights},
        family="causal-dag",
        meta={"kind": "graphs"},
    )
    return path, lambda p: load_arrays(p, "posterior", family="causal-dag")


def posterior_content(loaded: tuple[dict[str, np.ndarray], dict]) -> dict[str, object]:
    arrays, head = loaded
    return {**{k: (v.dtype.str, v.shape, v.tobytes()) for k, v in arrays.items()}, "header": head}


SPEC = HarmSpec(("a", "b", "h"), "h > 0.25", ({}, {"a": 1.5}), context=("b",))


def amortised_file(tmp_path: Path) -> tuple[Path, object]:
    q = AmortisedHarm(SPEC, hidden=8, layers=2, seed=0)
    q.x_mean, q.x_std, q.error_margin = np.array([0.2]), np.array([1.3]), 0.02
    return q.save(tmp_path / "amortised.npz"), lambda p: AmortisedHarm(SPEC, hidden=8, layers=2).load(p)


def amortised_content(q: AmortisedHarm) -> dict[str, object]:
    out: dict[str, object] = {k: v.numpy().tobytes() for k, v in q.net.state_dict().items()}
    out |= {"x_mean": q.x_mean.tobytes(), "x_std": q.x_std.tobytes(), "error_margin": q.error_margin}
    return out


def gflownet_file(tmp_path: Path) -> tuple[Path, object]:
    score = StructureScore(BGeScore(sample_linear_gaussian_scm(3, 50, 2, seed=0).data))
    config = GFlowNetConfig(seed=0, hidden=16, layers=1, warmup=10, buffer_size=1000, n_envs=4)
    model = DAGGFlowNet(score, config)
    model.steps, model.train_seconds = 12, 0.5
    return model.save(tmp_path / "gflownet.npz"), lambda p: DAGGFlowNet.load(p, score)


def gflownet_content(model: DAGGFlowNet) -> dict[str, object]:
    out: dict[str, object] = {k: v.numpy().tobytes() for k, v in model.policy.state_dict().items()}
    out |= {"steps": model.steps, "train_seconds": model.train_seconds, "config": model.config}
    return out


CASES = {
    "posterior": (posterior_file, posterior_content),
    "amortised": (amortised_file, amortised_content),
    "gflownet": (gflownet_file, gflownet_content),
}


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("kind", sorted(CASES))
def test_single_bit_flips_are_refused_or_harmless(tmp_path, kind):
    make, content = CASES[kind]
    path, load = make(tmp_path)
    data = path.read_bytes()
    reference = content(load(path))
    rng = np.random.default_rng({"posterior": 1, "amortised": 2, "gflownet": 3}[kind])
    bad = tmp_path / f"flipped-{kind}.npz"
    refused = harmless = 0
    for position in rng.choice(8 * len(data), size=N_FLIPS, replace=False):
        bad.write_bytes(flip_bit(data, int(position)))
        try:
            loaded = load(bad)
        except ValueError as exc:  # ArtefactError is a ValueError
            assert str(bad) in str(exc), (int(position), str(exc))
            refused += 1
        else:
            assert content(loaded) == reference, f"bit {int(position)} changed the content silently"
            harmless += 1
    assert refused + harmless == N_FLIPS
    assert refused > N_FLIPS // 2  # most bits are array data or header: a flip there must be caught


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_truncated_file_is_refused_naming_it(tmp_path, kind):
    make, _ = CASES[kind]
    path, load = make(tmp_path)
    data = path.read_bytes()
    cut = tmp_path / f"truncated-{kind}.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtefactError, match=f"truncated-{kind}\\.npz: "):
        load(cut)
    cut.write_bytes(b"")
    with pytest.raises(ArtefactError, match=f"truncated-{kind}\\.npz: "):
        load(cut)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_flips_behind_a_recomputed_zip_crc_are_caught_by_the_checksum(tmp_path, kind):
    """The zip CRC catches the flips above; a member rewritten with a fresh CRC (a consistent edit of the
    archive) must still be refused: by the artefact's SHA-256, or earlier by a header field it changed."""
    make, _ = CASES[kind]
    path, load = make(tmp_path)
    with zipfile.ZipFile(path) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    rng = np.random.default_rng(4)
    bad = tmp_path / f"rezipped-{kind}.npz"
    names = sorted(members)
    messages = []
    for _ in range(20):
        name = names[rng.integers(len(names))]
        raw = members[name]
        header_len = len(raw) - len(np.load(io.BytesIO(raw), allow_pickle=False).tobytes())
        position = int(rng.integers(8 * header_len, 8 * len(raw)))  # in the data, after the .npy header
        with zipfile.ZipFile(bad, "w") as z:
            for other, data in members.items():
                z.writestr(other, flip_bit(data, position) if other == name else data)
        with pytest.raises(ValueError, match=f"rezipped-{kind}\\.npz: ") as info:
            load(bad)
        messages.append(str(info.value))
    assert sum("checksum mismatch" in m for m in messages) >= len(messages) // 2, messages


def test_a_header_with_nan_is_refused_naming_the_file(tmp_path):
    """``json.loads`` accepts ``NaN``; the checksum's strict JSON then failed with a bare ValueError that
    did not name the file. The header is now parsed as strict JSON."""
    path, load = posterior_file(tmp_path)
    with np.load(path, allow_pickle=False) as f:
        members = {k: f[k] for k in f.files}
    members["__header__"] = np.array(str(members["__header__"]).replace('"kind": "graphs"', '"kind": NaN'))
    bad = tmp_path / "nan-header.npz"
    np.savez(bad, **members)
    with pytest.raises(ArtefactError, match=r"nan-header\.npz: its header is not strict JSON"):
        load(bad)
