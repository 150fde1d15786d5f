"""Data for causal theories: synthetic structural causal models, table validation, the Sachs data set.

- :func:`sample_linear_gaussian_scm`, :func:`sample_discrete_scm`: random ground-truth models on an
  Erdős–Rényi DAG and ancestral samples from them (vectorised over samples).
- :func:`validate_table`: checks a user table (DataFrame, CSV path or array) where it enters the API and
  returns ``Table(values, names, categories)`` (with ``Table.arities`` for discrete tables); errors name
  the offending column.
- :func:`load_sachs`, :func:`sachs_consensus`: the Sachs et al. (2005) flow-cytometry data shipped in
  ``bayesguard/data/sachs`` (see the README there for source, licence and the edge-count decision).

Shapes: ``N`` rows (samples), ``d`` variables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ..._validate import positive_int
from .dag import _as_adj, _rng, random_dag_er, topological_order

MIN_ROWS = 10


# --------------------------------------------------------------------------------------------------
# Synthetic models


def _names(d: int, names: object | None, field: str = "names") -> tuple[str, ...]:
    if names is None:
        return tuple(f"X{j}" for j in range(d))
    if isinstance(names, str):
        raise TypeError(f"{field}: expected a sequence of {d} column names, got a single string")
    out = tuple(str(n) for n in names)  # type: ignore[attr-defined]
    if len(out) != d:
        raise ValueError(f"{field}: expected {d} names (one per column), got {len(out)}")
    if len(set(out)) != d:
        dup = next(n for n in out if out.count(n) > 1)
        raise ValueError(f"{field}: names must be distinct, {dup!r} appears more than once")
    return out


@dataclass(frozen=True)
class SyntheticSCM:
    """A linear-Gaussian structural causal model and samples from it.

    Row-vector form: ``x = x @ weights + e`` with ``e ~ N(0, diag(noise_std**2))``, so node ``j`` is
    ``x_j = sum_i weights[i, j] x_i + e_j`` and ``weights[i, j] != 0`` only on edges ``i -> j``.

    Attributes:
        adj: ``(d, d)`` bool, the true DAG.
        weights: ``(d, d)`` float64 edge coefficients (zero off the edges).
        noise_std: ``(d,)`` float64 standard deviations of the noise terms.
        data: ``(N, d)`` float64 samples.
        names: ``d`` column names.
    """

    adj: np.ndarray
    weights: np.ndarray
    noise_std: np.ndarray
    data: np.ndarray
    names: tuple[str, ...]

    def implied_covariance(self) -> np.ndarray:
        """``(d, d)`` covariance of ``x``: ``(I - W)^-T diag(noise_std**2) (I - W)^-1``."""
        inv = np.linalg.inv(np.eye(self.weights.shape[0]) - self.weights)
        return inv.T @ np.diag(self.noise_std**2) @ inv


@dataclass(frozen=True)
class SyntheticDiscreteSCM:
    """A categorical Bayesian network with Dirichlet-drawn conditional probability tables, and samples.

    Attributes:
        adj: ``(d, d)`` bool, the true DAG.
        arities: ``(d,)`` int64 number of states of each variable.
        cpts: ``d`` arrays; ``cpts[j]`` is ``(q_j, arities[j])`` with ``q_j`` the product of the parents'
            arities; row ``c`` is ``P(x_j | parents = c)`` where ``c = np.ravel_multi_index(x[parents],
            arities[parents])`` over the parents in increasing index order (a single row when no parents).
        data: ``(N, d)`` int64 codes, column ``j`` in ``0..arities[j] - 1``.
        names: ``d`` column names.
    """

    adj: np.ndarray
    arities: np.ndarray
    cpts: tuple[np.ndarray, ...]
    data: np.ndarray
    names: tuple[str, ...]


def _weight_range(value: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weight_range: expected a pair (low, high) of numbers, got {value!r}") from exc
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low <= high):
        raise ValueError(f"weight_range: expected 0 <= low <= high (finite), got {value!r}")
    return low, high


def sample_linear_gaussian_scm(
    d: int,
    n_samples: int,
    expected_edges: float,
    seed: np.random.Generator | int | None = None,
    weight_range: tuple[float, float] = (0.5, 2.0),
    noise_std: float | np.ndarray = 1.0,
    names: list[str] | tuple[str, ...] | None = None,
) -> SyntheticSCM:
    """Draw a random linear-Gaussian SCM on an Erdős–Rényi DAG and ``n_samples`` ancestral samples.

    Edge weights are ``sign * U(low, high)`` with a random sign; samples are ``x = e (I - W)^-1``
    for all rows at once.

    Args:
        d: number of variables, ``>= 1``.
        n_samples: number of rows ``N``, ``>= 1``.
        expected_edges: expected number of edges of the DAG, in ``[0, d(d-1)/2]``.
        seed: numpy Generator, int seed, or None.
        weight_range: ``(low, high)`` range of the absolute edge weights, ``0 <= low <= high``.
        noise_std: positive noise standard deviation, a number or ``(d,)`` array.
        names: ``d`` column names; default ``X0..X{d-1}``.

    Returns:
        :class:`SyntheticSCM` with ``data`` of shape ``(N, d)``.
    """
    d = positive_int(d, "d")
    n_samples = positive_int(n_samples, "n_samples")
    low, high = _weight_range(weight_range)
    sigma = np.asarray(noise_std, dtype=np.float64)
    if sigma.ndim == 0:
        sigma = np.full(d, float(sigma))
    if sigma.shape != (d,):
        raise ValueError(f"noise_std: expected a number or an array of shape ({d},), got shape {sigma.shape}")
    if not (np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
        raise ValueError(f"noise_std: expected positive finite standard deviations, got {sigma.tolist()}")
    labels = _names(d, names)
    gen = _rng(seed)
    adj = random_dag_er(d, expected_edges, gen)
    magnitude = gen.uniform(low, high, size=(d, d))
    sign = np.where(gen.random((d, d)) < 0.5, -1.0, 1.0)
    weights = np.where(adj, sign * magnitude, 0.0)
    noise = gen.standard_normal((n_samples, d)) * sigma
    # x (I - W) = e  <=>  (I - W)^T x^T = e^T ; I - W is invertible because W is nilpotent (a DAG).
    data = np.linalg.solve((np.eye(d) - weights).T, noise.T).T
    return SyntheticSCM(adj=adj, weights=weights, noise_std=sigma, data=data, names=labels)


def _arities(value: object, d: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"arities: expected an integer or {d} integers >= 2, got {value!r}")
    arr = np.broadcast_to(arr, (d,)).astype(np.int64) if arr.ndim == 0 else arr.astype(np.int64)
    if arr.shape != (d,):
        raise ValueError(f"arities: expected an integer or shape ({d},), got shape {arr.shape}")
    if (arr < 2).any():
        raise ValueError(f"arities: expected integers >= 2, got {arr.tolist()}")
    return arr


def sample_discrete_scm(
    d: int,
    n_samples: int,
    expected_edges: float,
    arities: int | list[int] | np.ndarray = 2,
    seed: np.random.Generator | int | None = None,
    dirichlet_alpha: float = 1.0,
    names: list[str] | tuple[str, ...] | None = None,
) -> SyntheticDiscreteSCM:
    """Draw a random categorical Bayesian network on an Erdős–Rényi DAG and ancestral samples.

    Each row of each conditional probability table is ``Dirichlet(dirichlet_alpha * ones(r_j))``.
    Sampling loops over the nodes in topological order and is vectorised over the ``N`` samples.

    Args:
        d: number of variables, ``>= 1``.
        n_samples: number of rows ``N``, ``>= 1``.
        expected_edges: expected number of edges of the DAG, in ``[0, d(d-1)/2]``.
        arities: number of states, one integer ``>= 2`` for all variables or ``(d,)``.
        seed: numpy Generator, int seed, or None.
        dirichlet_alpha: concentration of the Dirichlet prior of each table row, ``> 0``.
        names: ``d`` column names; default ``X0..X{d-1}``.

    Returns:
        :class:`SyntheticDiscreteSCM` with ``data`` of shape ``(N, d)`` int64.
    """
    d = positive_int(d, "d")
    n_samples = positive_int(n_samples, "n_samples")
    r = _arities(arities, d)
    alpha = float(dirichlet_alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"dirichlet_alpha: expected a positive number, got {dirichlet_alpha!r}")
    labels = _names(d, names)
    gen = _rng(seed)
    adj = random_dag_er(d, expected_edges, gen)
    cpts: list[np.ndarray] = []
    for j in range(d):
        q = int(np.prod(r[adj[:, j]]))
        cpts.append(gen.dirichlet(np.full(int(r[j]), alpha), size=q))
    data = np.zeros((n_samples, d), dtype=np.int64)
    for j in topological_order(adj):
        parents = np.flatnonzero(adj[:, j])
        config = np.ravel_multi_index(tuple(data[:, parents].T), tuple(r[parents])) if parents.size else 0
        cdf = np.cumsum(np.broadcast_to(cpts[j][config], (n_samples, r[j])), axis=1)
        u = gen.random((n_samples, 1))
        data[:, j] = np.minimum((cdf < u).sum(axis=1), r[j] - 1)
    return SyntheticDiscreteSCM(adj=adj, arities=r, cpts=tuple(cpts), data=data, names=labels)


# --------------------------------------------------------------------------------------------------
# Table validation


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


# --------------------------------------------------------------------------------------------------
# Sachs et al. (2005)

_SACHS = resources.files("bayesguard").joinpath("data", "sachs")
SACHS_DATA_FILE = "cyto_full_data.csv.gz"
SACHS_TARGET_FILE = "cyto_full_target.csv"
#: The edge of the target file dropped by ``sachs_consensus(acyclic=True)`` (see data/sachs/README.md).
SACHS_DROPPED_EDGE = ("PIP3", "plcg")


class LabelledGraph(NamedTuple):
    """A graph with node names: ``adj`` ``(d, d)`` bool and ``names`` (``d`` strings)."""

    adj: np.ndarray
    names: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _sachs_frame() -> pd.DataFrame:
    with _SACHS.joinpath(SACHS_DATA_FILE).open("rb") as fh:
        return pd.read_csv(fh, compression="gzip")


def load_sachs() -> pd.DataFrame:
    """The Sachs et al. (2005) flow-cytometry measurements: 7,466 cells x 11 proteins (float64).

    Columns, in order: ``praf, pmek, plcg, PIP2, PIP3, p44/42, pakts473, PKA, PKC, P38, pjnk``. The rows
    pool several experimental conditions without a column saying which (as distributed by the ``cdt``
    package; see ``bayesguard/data/sachs/README.md``). Returns a fresh copy on each call.

    Returns:
        DataFrame of shape ``(7466, 11)``.
    """
    return _sachs_frame().copy()


def sachs_consensus(acyclic: bool = False) -> LabelledGraph:
    """The consensus signalling network of Sachs et al. (2005), from ``cdt``'s ``cyto_full_target.csv``.

    The file lists 18 edges, among them the directed cycle ``PIP3 -> plcg -> PIP2 -> PIP3``, so it is not
    a DAG. With ``acyclic=True`` the edge ``PIP3 -> plcg`` (one of the two cycle edges that Sachs et al.'s
    learned model orients the other way) is dropped, giving a 17-edge DAG. That is *not* the 17-arc
    network often quoted via bnlearn (the paper's learned model; SHD 7 from this one); see
    ``bayesguard/data/sachs/README.md``.

    Args:
        acyclic: drop ``PIP3 -> plcg`` to break the only cycle.

    Returns:
        :class:`LabelledGraph` with ``adj`` ``(11, 11)`` bool in the column order of :func:`load_sachs`.
    """
    names = tuple(str(c) for c in _sachs_frame().columns)
    index = {n: k for k, n in enumerate(names)}
    with _SACHS.joinpath(SACHS_TARGET_FILE).open("r", encoding="utf-8") as fh:
        edges = pd.read_csv(fh)
    adj = np.zeros((len(names), len(names)), dtype=bool)
    adj[edges["Cause"].map(index).to_numpy(), edges["Effect"].map(index).to_numpy()] = True
    if acyclic:
        adj[index[SACHS_DROPPED_EDGE[0]], index[SACHS_DROPPED_EDGE[1]]] = False
    return LabelledGraph(_as_adj(adj, ndim=2), names)
