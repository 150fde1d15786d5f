"""Tables where data enter the API: a DataFrame, CSV path or array checked and returned as a :class:`Table`
(``values, names, categories``; ``Table.arities`` for discrete tables); errors name the offending column.

Shapes: ``N`` rows, ``d`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from .synthetic import _names

MIN_ROWS = 10


class Table(NamedTuple):
    """A validated data table.

    Attributes:
        values: ``(N, d)`` float64 (continuous) or int64 codes ``0..r_j - 1`` (discrete).
        names: ``d`` column names.
        categories: discrete only: ``categories[j][k]`` is the label of code ``k`` in column ``j``, for
            every declared category of the column, including ones that never occur in ``values``; None
            for continuous tables.
    """

    values: np.ndarray
    names: tuple[str, ...]
    categories: tuple[tuple[object, ...], ...] | None

    @property
    def arities(self) -> np.ndarray | None:
        """Discrete only: ``(d,)`` int64 number of categories per variable, counting states that never
        occur (``len(categories[j])``), as :class:`~.scores.BDeuScore` needs; None for continuous tables."""
        if self.categories is None:
            return None
        return np.array([len(c) for c in self.categories], dtype=np.int64)


def _as_frame(data: object, names: object | None) -> pd.DataFrame:
    if isinstance(data, str | os.PathLike):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"data: no CSV file at {path!r}")
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"data: could not read {path!r} as a CSV table with a header row: {exc}"
            ) from exc
    elif isinstance(data, pd.DataFrame):
        frame = data.copy(deep=False)  # renaming columns below must not touch the caller's frame
    else:
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise ValueError(f"data: expected a 2-d table (N rows, d columns), got shape {arr.shape}")
        frame = pd.DataFrame(arr)
        if names is None:
            frame.columns = [f"X{j}" for j in range(arr.shape[1])]
    if names is not None:
        frame = frame.set_axis(list(_names(frame.shape[1], names)), axis=1)
    frame.columns = [str(c) for c in frame.columns]
    _names(frame.shape[1], list(frame.columns), "data columns")
    return frame


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _declared_codes(col: pd.Series, name: str, declared: object) -> tuple[np.ndarray, tuple[object, ...]]:
    """A column with an explicitly declared domain -> (int64 codes into ``declared``, labels)."""
    if isinstance(declared, str) or not isinstance(declared, Sequence | np.ndarray | pd.Index):
        raise TypeError(
            f"categories: expected a sequence of labels for column {name!r}, got {type(declared).__name__}"
        )
    index = pd.Index(list(declared))
    if index.size == 0:
        raise ValueError(f"categories: column {name!r} declares no categories")
    if not index.is_unique:
        dup = _plain(index[index.duplicated()][0])
        raise ValueError(f"categories: column {name!r} declares {dup!r} more than once")
    codes = index.get_indexer(col)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(
            f"data: column {name!r} has value {_plain(col.iloc[row])!r} (row {row}) outside its declared "
            f"categories {[_plain(v) for v in index]}"
        )
    return codes.astype(np.int64), tuple(_plain(v) for v in index)


def _code_column(col: pd.Series, name: str) -> tuple[np.ndarray, tuple[object, ...], bool]:
    """One discrete column -> (int64 codes 0..k-1, labels, whether the labels are a declared domain).

    A pandas Categorical declares its domain: every category, used or not, in its own order. Other
    columns only show their observed values, which become the labels in sorted order.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        labels = tuple(_plain(c) for c in col.cat.categories)
        return col.cat.codes.to_numpy(dtype=np.int64), labels, True
    if pd.api.types.is_bool_dtype(col.dtype):
        values = col.to_numpy(dtype=np.int64)
    elif pd.api.types.is_numeric_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"data: column {name!r} contains infinite values; expected category codes")
        bad = values != np.round(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"data: column {name!r} has non-integer value {values[row]!r} (row {row}); discrete data "
                "needs integer codes or string labels (discretise continuous columns first)"
            )
        values = values.astype(np.int64)
    else:
        values = col.astype(str).to_numpy()
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), tuple(_plain(v) for v in uniq), False


def validate_table(
    data: object,
    kind: Literal["continuous", "discrete"] = "continuous",
    names: list[str] | tuple[str, ...] | None = None,
    *,
    categories: Mapping[str, Sequence[object]] | None = None,
) -> Table:
    """Check a data table where it enters the API and return it as an array with its column names.

    Accepts a pandas DataFrame, a path to a CSV file with a header row, or a 2-d array (with optional
    ``names``). Errors name the offending column. Checks: no missing values, at least
    ``max(10, 2 d)`` rows; continuous columns numeric, finite and not constant; discrete columns integer
    codes or labels (strings, booleans, categoricals), mapped to codes ``0..r_j - 1``.

    The categories of a discrete column (its domain, which the BDeu score counts in full, seen or not):

    - a pandas Categorical column declares them: every category, *including unused ones*, in the
      Categorical's own order; its codes are the data codes;
    - ``categories={name: labels}`` declares them explicitly (e.g. for a CSV file or an array), in the
      given order; every value must be one of them;
    - any other column only shows its observed values: they become the categories, in sorted order.

    A constant column is accepted when its domain is declared with at least 2 categories. A constant
    column without a declared domain is rejected (one observed value says nothing about which other
    states exist), with a message suggesting a Categorical dtype or ``categories=``; so is a declared
    domain of a single category (a variable that cannot vary carries no information).

    Args:
        data: DataFrame, CSV path (``str`` or ``os.PathLike``) or ``(N, d)`` array.
        kind: ``"continuous"`` or ``"discrete"``.
        names: ``d`` column names, overriding the table's own.
        categories: discrete only: declared labels per column name (after ``names``), overriding the
            column's own; columns not listed keep the rules above.

    Returns:
        :class:`Table` ``(values, names, categories)``: ``values`` is ``(N, d)`` float64 (continuous) or
        int64 codes (discrete); ``categories`` is None for continuous data; ``Table.arities`` gives the
        ``(d,)`` number of categories per variable of a discrete table.
    """
    if kind not in ("continuous", "discrete"):
        raise ValueError(f"kind: expected 'continuous' or 'discrete', got {kind!r}")
    if categories is not None:
        if kind != "discrete":
            raise ValueError("categories: only discrete tables have categories (use kind='discrete')")
        if not isinstance(categories, Mapping):
            raise TypeError(
                f"categories: expected a mapping of column name -> labels, got {type(categories).__name__}"
            )
    frame = _as_frame(data, names)
    n_rows, d = frame.shape
    labels = tuple(frame.columns)
    if d == 0:
        raise ValueError("data: expected at least one column, got none")
    declared_domains = {str(k): v for k, v in (categories or {}).items()}
    unknown = [k for k in declared_domains if k not in labels]
    if unknown:
        raise ValueError(f"categories: {unknown[0]!r} is not a column of the table (columns: {list(labels)})")
    missing = frame.isna().to_numpy()
    if missing.any():
        j = int(np.flatnonzero(missing.any(axis=0))[0])
        rows = np.flatnonzero(missing[:, j])
        raise ValueError(
            f"data: column {labels[j]!r} has {rows.size} missing value(s) (first at row {int(rows[0])}); "
            "drop or impute them first"
        )
    need = max(MIN_ROWS, 2 * d)
    if n_rows < need:
        raise ValueError(
            f"data: expected at least max({MIN_ROWS}, 2 * d) = {need} rows for d = {d} columns, got {n_rows}"
        )

    if kind == "continuous":
        values = np.empty((n_rows, d), dtype=np.float64)
        for j, name in enumerate(labels):  # a loop over columns, for per-column messages
            col = frame.iloc[:, j]
            if pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
                values[:, j] = col.to_numpy(dtype=np.float64)
            else:
                numeric = pd.to_numeric(col, errors="coerce")
                bad = numeric.isna().to_numpy()
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise TypeError(
                        f"data: column {name!r} is not numeric (row {row} holds {col.iloc[row]!r}); "
                        "continuous data needs numbers (use kind='discrete' for categories)"
                    )
                values[:, j] = numeric.to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(values[:, j])):
                raise ValueError(f"data: column {name!r} contains infinite values")
            if np.ptp(values[:, j]) == 0:
                raise ValueError(f"data: column {name!r} is constant ({values[0, j]!r}); remove it")
        return Table(values, labels, None)

    codes = np.empty((n_rows, d), dtype=np.int64)
    domains: list[tuple[object, ...]] = []
    for j, name in enumerate(labels):
        col = frame.iloc[:, j]
        if name in declared_domains:
            codes[:, j], cats = _declared_codes(col, name, declared_domains[name])
            declared = True
        else:
            codes[:, j], cats, declared = _code_column(col, name)
        if len(cats) < 2:
            if declared:
                raise ValueError(
                    f"data: column {name!r} declares a single category {cats[0]!r}; a variable that cannot "
                    "vary carries no information: declare its full domain (at least 2 categories) or "
                    "remove it"
                )
            raise ValueError(
                f"data: column {name!r} is constant (only the value {cats[0]!r}) and its domain is unknown; "
                f"declare its categories with a pandas Categorical dtype (pd.Categorical(..., "
                f"categories=[...])) or validate_table(..., categories={{{name!r}: [...]}}), or remove it"
            )
        domains.append(cats)
    return Table(codes, labels, tuple(domains))
