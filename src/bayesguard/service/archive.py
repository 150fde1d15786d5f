"""A guard bundle as one tar archive (``guard.tar``, ``guard.tar.gz`` or ``guard.tgz``): the bundle's
files as flat regular members, nothing else.

Reading is defensive: :func:`read_members` reads every member into memory and refuses (ValueError naming
the archive and the member) an absolute path, a ``..`` component, a directory, a link, a device or any
other member that is not a plain file, a name outside ``allowed``, a name given twice, more than
:data:`MAX_MEMBERS` members and more than :data:`MAX_BYTES` in all. Nothing is extracted to disk here;
the caller verifies the checksums on the bytes before it builds anything.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

#: File names that make ``out`` an archive rather than a directory.
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
#: The most members an archive may hold (a bundle has at most four files).
MAX_MEMBERS = 16
#: The most bytes the members may hold in all.
MAX_BYTES = 1 << 30


def is_archive_name(path: str | Path) -> bool:
    """True when ``path`` names a tar archive (by its suffix)."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def write_archive(files: Mapping[str, Path], out: Path) -> None:
    """Write ``files`` (member name -> file) as a tar (gzip-compressed for ``.tar.gz`` / ``.tgz``) to
    ``out``, atomically: a temporary file beside it, fsynced, then renamed into place."""
    mode = "w" if str(out).lower().endswith(".tar") else "w:gz"
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            with tarfile.open(fileobj=fh, mode=mode, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                now = int(time.time())
                for name, path in files.items():
                    data = path.read_bytes()
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode, info.type = len(data), now, 0o644, tarfile.REGTYPE
                    tar.addfile(info, io.BytesIO(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _refuse(path: Path, name: str, why: str) -> ValueError:
    return ValueError(f"{path}: member {name!r} refused: {why}")


def read_members(path: Path, allowed: set[str]) -> dict[str, bytes]:
    """The members of the tar archive ``path`` by name, each checked (see the module docstring)."""
    out: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for k, member in enumerate(iter(tar.next, None)):
                name = member.name
                if k >= MAX_MEMBERS:
                    raise ValueError(f"{path}: more than {MAX_MEMBERS} members (not a bayesguard bundle)")
                parts = name.replace("\\", "/").split("/")
                if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
                    raise _refuse(path, name, "an absolute path")
                if ".." in parts:
                    raise _refuse(path, name, "a '..' component")
                if member.issym() or member.islnk():
                    raise _refuse(path, name, "a link")
                if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
                    raise _refuse(path, name, "not a regular file")
                if name not in allowed:
                    raise _refuse(path, name, f"not a bundle file ({sorted(allowed)})")
                if name in out:
                    raise _refuse(path, name, "given twice")
                total += member.size
                if total > MAX_BYTES:
                    raise _refuse(path, name, f"the members exceed {MAX_BYTES} bytes")
                fh = tar.extractfile(member)
                if fh is None:
                    raise _refuse(path, name, "unreadable")
                data = fh.read(member.size + 1)
                if len(data) != member.size:
                    raise _refuse(path, name, "its size differs from its header")
                out[name] = data
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ValueError(f"{path}: not a readable tar archive ({type(exc).__name__}: {exc})") from exc
    return out
