"""Saved artefacts are data, never code: named arrays plus a JSON header, versioned and checksummed.

Every file bayesguard writes (a posterior, an amortised network, a GFlowNet policy) goes through
:func:`save_arrays` and comes back through :func:`load_arrays`. The container is a NumPy ``.npz``
archive read with ``allow_pickle=False`` (no object arrays, so nothing in the file can run code); it
holds the named arrays and one 0-d unicode array ``__header__`` with a JSON object:

- ``format``: ``"bayesguard.<kind>"`` (``kind`` names the artefact: ``posterior``, ``amortised``, ...);
- ``version``: the artefact's format version (an integer, checked against what the reader supports);
- ``family``: the theory family the artefact belongs to (or ``null``), compared with the caller's;
- ``meta``: the artefact's own JSON fields;
- ``sha256``: the SHA-256 of every array (name, dtype, shape, bytes, in name order) and of ``format``,
  ``version``, ``family`` and ``meta`` in canonical JSON. A flipped bit, a truncated file or a
  consistently rewritten array with a stale checksum is refused on load, naming the file.

The checksum detects corruption and careless edits; it is not a signature (whoever can rewrite the file
can rewrite the checksum). Files are written to a temporary name, flushed and fsynced, then renamed, so
a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HEADER = "__header__"


class ArtefactError(ValueError):
    """A file that is not a valid bayesguard artefact of the expected kind (the message names it)."""


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"the non-finite number {name} is not allowed")


def checksum(arrays: dict[str, np.ndarray], head: dict[str, Any]) -> str:
    """SHA-256 over the arrays (name, dtype, shape, C-order bytes, sorted by name) and the header."""
    h = hashlib.sha256()
    h.update(_canonical({k: head[k] for k in ("format", "version", "family", "meta")}))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(_canonical([name, a.dtype.str, list(a.shape)]))
        h.update(a.tobytes())
    return h.hexdigest()


def _plain(name: str, value: Any) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.hasobject or a.dtype.kind not in "biufcUS":
        raise TypeError(f"{name}: an artefact holds numeric, boolean or string arrays, got dtype {a.dtype}")
    return a


def save_arrays(
    path: str | Path,
    kind: str,
    version: int,
    arrays: dict[str, Any],
    *,
    family: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``arrays`` with a checksummed header to ``path`` (atomically, fsynced); returns the path.

    Args:
        path: the file to write (any suffix; ``.npz`` is conventional).
        kind: the artefact kind, e.g. ``"posterior"``.
        version: the artefact's format version.
        arrays: name -> array (numeric, boolean or fixed-width string; never objects).
        family: the theory family the artefact belongs to.
        meta: JSON-serialisable fields of the artefact (no NaN).
    """
    path = Path(path)
    if HEADER in arrays:
        raise ValueError(f"arrays: the name {HEADER!r} is reserved")
    plain = {k: _plain(k, v) for k, v in arrays.items()}
    head: dict[str, Any] = {
        "format": f"bayesguard.{kind}",
        "version": int(version),
        "family": family,
        "meta": dict(meta or {}),
    }
    head["sha256"] = checksum(plain, head)
    buf = io.BytesIO()
    np.savez(buf, **plain, **{HEADER: np.array(json.dumps(head, allow_nan=False))})
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some filesystems do not fsync directories
        pass
    return path


def load_arrays(
    path: str | Path,
    kind: str,
    versions: tuple[int, ...] = (1,),
    *,
    family: str | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`; returns ``(arrays, header)``.

    Raises :class:`ArtefactError` (a ``ValueError``) naming the file when it is unreadable, truncated,
    of another kind or version, of another family (when ``family`` is given), or fails its checksum;
    ``FileNotFoundError`` when it does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # not a zip, truncated, object arrays, bad CRC
        raise ArtefactError(
            f"{path}: not a readable bayesguard {kind} ({type(exc).__name__}: {exc})"
        ) from exc
    if HEADER not in arrays:
        raise ArtefactError(
            f"{path}: not a bayesguard artefact (no {HEADER!r}; written by an older version?)"
        )
    try:  # strict JSON: NaN / Infinity would otherwise make the checksum below fail without the file name
        head = json.loads(str(arrays.pop(HEADER)), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # json.JSONDecodeError is a ValueError
        raise ArtefactError(f"{path}: its header is not strict JSON ({exc})") from exc
    if not isinstance(head, dict) or not {"format", "version", "family", "meta", "sha256"} <= set(head):
        raise ArtefactError(f"{path}: its header lacks format, version, family, meta or sha256")
    if head["format"] != f"bayesguard.{kind}":
        raise ArtefactError(f"{path}: holds {head['format']!r}, expected 'bayesguard.{kind}'")
    if head["version"] not in versions:
        raise ArtefactError(
            f"{path}: format version {head['version']!r} is not supported "
            f"(this reader knows {list(versions)})"
        )
    if not isinstance(head["meta"], dict):
        raise ArtefactError(f"{path}: meta must be a JSON object")
    if family is not None and head["family"] != family:
        raise ArtefactError(f"{path}: belongs to family {head['family']!r}, not {family!r}")
    if checksum(arrays, head) != head["sha256"]:
        raise ArtefactError(f"{path}: checksum mismatch: the file is corrupt or was edited")
    return arrays, head


def require(arrays: dict[str, np.ndarray], path: str | Path, **spec: tuple[str, int | None]) -> None:
    """Check that each named array exists with a dtype kind in ``spec[name][0]`` (e.g. ``"f"``,
    ``"biu"``) and ``spec[name][1]`` dimensions (None: any); raise :class:`ArtefactError` otherwise."""
    for name, (kinds, ndim) in spec.items():
        if name not in arrays:
            raise ArtefactError(f"{path}: missing array {name!r}")
        a = arrays[name]
        if a.dtype.kind not in kinds or (ndim is not None and a.ndim != ndim):
            raise ArtefactError(f"{path}: array {name!r} has dtype {a.dtype} and shape {a.shape}")
