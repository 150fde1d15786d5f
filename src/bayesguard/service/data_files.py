"""The CSV files of the exact families' guards, read strictly: errors name the file, the row (1 = the
first row after the header) and the column.

- bandit: columns ``f0 .. f{n_features-1}`` (the pulled arm's features) and ``reward``, in any order;
  every cell a finite number -> :class:`~bayesguard.theories.bandit.BanditData`.
- finite: columns ``action`` and ``outcome``; each cell a name from the config (``action_names``,
  ``outcome_names``) or an index -> :class:`~bayesguard.theories.finite.FiniteData`. A cell that is a
  name is read as that name, even when it also reads as an index.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..theories.bandit import BanditData
from ..theories.finite import FiniteData


def _rows(path: Path, columns: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The header (checked to hold exactly ``columns``, in any order) and the rows of a CSV file."""
    if not path.is_file():
        raise ValueError(f"data.csv: no CSV file at {path}")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [row for row in csv.reader(fh, strict=True) if row]
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc
    if not rows:
        raise ValueError(f"{path}: empty; expected a header row {list(columns)}")
    header = [h.strip() for h in rows[0]]
    if sorted(header) != sorted(columns):
        raise ValueError(f"{path}: expected the columns {list(columns)} (any order), got {header}")
    body = rows[1:]
    if not body:
        raise ValueError(f"{path}: no rows after the header (leave out [data] for the prior)")
    for i, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise ValueError(f"{path}: row {i} has {len(row)} cells, expected {len(header)}")
    return header, body


def read_bandit_csv(path: Path, n_features: int) -> BanditData:
    """The pulls in ``path``: features ``(n_obs, n_features)`` and rewards ``(n_obs,)``."""
    columns = [f"f{j}" for j in range(n_features)] + ["reward"]
    header, body = _rows(path, columns)
    order = [header.index(c) for c in columns]
    values = np.empty((len(body), len(columns)))
    for i, row in enumerate(body, start=1):
        for k, j in enumerate(order):
            cell = row[j].strip()
            try:
                x = float(cell)
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                raise ValueError(
                    f"{path}: row {i}, column {columns[k]}: expected a finite number, got {cell!r}"
                )
            values[i - 1, k] = x
    return BanditData(features=values[:, :n_features], rewards=values[:, n_features])


def _index(cell: str, names: Sequence[str], n: int, where: str) -> int:
    if cell in names:
        return list(names).index(cell)
    if cell.isascii() and cell.isdecimal() and int(cell) < n:  # no sign, no spaces: a plain index
        return int(cell)
    known = f"a name of {list(names)} or " if names else ""
    raise ValueError(f"{where}: expected {known}an index in [0, {n - 1}], got {cell!r}")


def read_finite_csv(
    path: Path, action_names: Sequence[str], outcome_names: Sequence[str], n_actions: int, n_outcomes: int
) -> FiniteData:
    """The (action, outcome) pairs in ``path`` as indices ``(n_obs,)`` each."""
    header, body = _rows(path, ["action", "outcome"])
    ja, jo = header.index("action"), header.index("outcome")
    actions = [
        _index(r[ja].strip(), action_names, n_actions, f"{path}: row {i}, column action")
        for i, r in enumerate(body, 1)
    ]
    outcomes = [
        _index(r[jo].strip(), outcome_names, n_outcomes, f"{path}: row {i}, column outcome")
        for i, r in enumerate(body, 1)
    ]
    return FiniteData(np.array(actions, dtype=np.int64), np.array(outcomes, dtype=np.int64))
