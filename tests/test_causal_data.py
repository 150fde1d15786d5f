"""Synthetic SCMs against their implied distributions, table validation, and the shipped Sachs data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesguard.datasets import (
    load_sachs,
    sachs_consensus,
    sample_discrete_scm,
    sample_linear_gaussian_scm,
    validate_table,
)
from bayesguard.graphs.dag import is_acyclic

# --------------------------------------------------------------------------------------------------
# Synthetic models


def test_linear_gaussian_covariance_within_standard_errors() -> None:
    n = 200_000
    scm = sample_linear_gaussian_scm(5, n, 5.0, seed=7, noise_std=np.array([1.0, 0.5, 2.0, 1.0, 1.5]))
    assert scm.data.shape == (n, 5) and scm.names == ("X0", "X1", "X2", "X3", "X4")
    assert is_acyclic(scm.adj) and scm.adj.sum() > 0
    assert np.all(scm.weights[~scm.adj] == 0)
    magnitude = np.abs(scm.weights[scm.adj])
    assert np.all((magnitude >= 0.5) & (magnitude <= 2.0))
    sigma = scm.implied_covariance()
    sample = np.cov(scm.data, rowvar=False)
    # Var of a Gaussian sample covariance: (S_ii S_jj + S_ij^2) / N.
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / n)
    z = np.abs(sample - sigma) / se
    assert z.max() < 5.0, z.round(2)
    np.testing.assert_allclose(scm.data.mean(axis=0), 0.0, atol=5 * np.sqrt(np.diag(sigma) / n).max())


def test_linear_gaussian_signs_and_arguments() -> None:
    weights = np.concatenate(
        [sample_linear_gaussian_scm(6, 10, 8.0, seed=s).weights.ravel() for s in range(30)]
    )
    assert (weights > 0).any() and (weights < 0).any()
    a = sample_linear_gaussian_scm(4, 50, 3.0, seed=1, names=["a", "b", "c", "d"])
    b = sample_linear_gaussian_scm(4, 50, 3.0, seed=1, names=["a", "b", "c", "d"])
    np.testing.assert_array_equal(a.data, b.data)
    assert a.names == ("a", "b", "c", "d")
    with pytest.raises(ValueError, match="^noise_std: "):
        sample_linear_gaussian_scm(3, 10, 1.0, seed=0, noise_std=[1.0, 2.0])
    with pytest.raises(ValueError, match="^weight_range: "):
        sample_linear_gaussian_scm(3, 10, 1.0, seed=0, weight_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="^names: "):
        sample_linear_gaussian_scm(3, 10, 1.0, seed=0, names=["a", "a", "b"])


def test_discrete_scm_frequencies_match_cpts() -> None:
    n = 100_000
    arities = np.array([2, 3, 2, 4, 3])
    scm = sample_discrete_scm(5, n, 5.0, arities, seed=3)
    assert scm.data.shape == (n, 5) and scm.data.dtype == np.int64
    assert np.all((scm.data >= 0) & (scm.data < arities))
    assert is_acyclic(scm.adj) and scm.adj.sum() > 0
    for j in range(5):
        parents = np.flatnonzero(scm.adj[:, j])
        table = scm.cpts[j]
        assert table.shape == (int(np.prod(arities[parents])), arities[j])
        np.testing.assert_allclose(table.sum(axis=1), 1.0)
        config = (
            np.ravel_multi_index(tuple(scm.data[:, parents].T), tuple(arities[parents]))
            if parents.size
            else np.zeros(n, dtype=np.int64)
        )
        counts = np.zeros_like(table)
        np.add.at(counts, (config, scm.data[:, j]), 1.0)
        n_c = counts.sum(axis=1, keepdims=True)
        seen = n_c[:, 0] >= 50
        freq = counts[seen] / n_c[seen]
        p = table[seen]
        se = np.sqrt(np.maximum(p * (1 - p), 1e-4) / n_c[seen])
        assert np.all(np.abs(freq - p) < 5 * se)


def test_discrete_scm_arguments() -> None:
    scm = sample_discrete_scm(3, 20, 1.0, 2, seed=0)
    np.testing.assert_array_equal(scm.arities, [2, 2, 2])
    with pytest.raises(ValueError, match="^arities: "):
        sample_discrete_scm(3, 20, 1.0, [2, 1, 2], seed=0)
    with pytest.raises(ValueError, match="^arities: "):
        sample_discrete_scm(3, 20, 1.0, [2, 2], seed=0)
    with pytest.raises(ValueError, match="^dirichlet_alpha: "):
        sample_discrete_scm(3, 20, 1.0, 2, seed=0, dirichlet_alpha=0.0)


# --------------------------------------------------------------------------------------------------
# Table validation


def frame(n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.normal(size=n), "dose": rng.normal(size=n), "yield": rng.normal(size=n)})


def test_validate_table_continuous_sources(tmp_path) -> None:
    df = frame()
    values, names, categories = validate_table(df)
    assert values.shape == (20, 3) and values.dtype == np.float64 and names == ("age", "dose", "yield")
    assert categories is None and validate_table(df).arities is None
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    np.testing.assert_allclose(validate_table(path).values, values)
    np.testing.assert_allclose(validate_table(str(path)).values, values)
    numbered = df.set_axis([0, 1, 2], axis=1)
    assert validate_table(numbered).names == ("0", "1", "2")
    assert list(numbered.columns) == [0, 1, 2]  # the caller's frame is not modified
    table = validate_table(df.to_numpy())
    assert table.names == ("X0", "X1", "X2")
    assert validate_table(df.to_numpy(), names=["a", "b", "c"]).names == ("a", "b", "c")


@pytest.mark.parametrize(
    ("mutate", "kind", "error", "pattern"),
    [
        (
            lambda df: df.assign(dose=np.where(np.arange(20) == 4, np.nan, df["dose"])),
            "continuous",
            ValueError,
            "column 'dose' has 1 missing value.*row 4",
        ),
        (lambda df: df.assign(dose=3.0), "continuous", ValueError, "column 'dose' is constant"),
        (lambda df: df.assign(dose=["x"] * 20), "continuous", TypeError, "column 'dose' is not numeric"),
        (
            lambda df: df.assign(dose=np.where(np.arange(20) == 2, np.inf, df["dose"])),
            "continuous",
            ValueError,
            "column 'dose' contains infinite",
        ),
        (lambda df: df.head(9), "continuous", ValueError, r"at least max\(10, 2 \* d\) = 10 rows.*got 9"),
        (
            lambda df: df.assign(dose=np.arange(20) % 3, age=np.arange(20) % 2),
            "discrete",
            ValueError,
            "column 'yield' has non-integer value",
        ),
        (
            lambda df: df.assign(age=1, dose=2, **{"yield": 0}),
            "discrete",
            ValueError,
            r"column 'age' is constant \(only the value 1\) and its domain is unknown; declare its "
            r"categories with a pandas Categorical",
        ),
    ],
)
def test_validate_table_errors_name_the_column(mutate, kind, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        validate_table(mutate(frame()), kind=kind)


def test_validate_table_row_rule_scales_with_d() -> None:
    wide = pd.DataFrame(np.random.default_rng(1).normal(size=(15, 8)))
    with pytest.raises(ValueError, match=r"= 16 rows for d = 8 columns, got 15"):
        validate_table(wide)


def test_validate_table_discrete_codes_and_labels() -> None:
    df = pd.DataFrame(
        {
            "smoker": ["yes", "no", "no", "yes"] * 5,
            "grade": [3, 1, 2, 3] * 5,
            "flag": [True, False, True, True] * 5,
            "size": pd.Categorical(["L", "S", "M", "S"] * 5, categories=["S", "M", "L", "XL"]),
        }
    )
    table = validate_table(df, kind="discrete")
    codes, names, categories = table
    assert codes.dtype == np.int64 and names == ("smoker", "grade", "flag", "size")
    # the Categorical keeps its unused level "XL": 4 declared states
    assert categories == (("no", "yes"), (1, 2, 3), (0, 1), ("S", "M", "L", "XL"))
    assert table.arities.dtype == np.int64 and table.arities.tolist() == [2, 3, 2, 4]
    np.testing.assert_array_equal(codes[:4], [[1, 2, 1, 2], [0, 0, 0, 0], [0, 1, 1, 1], [1, 2, 1, 0]])
    # integral floats are accepted as codes
    np.testing.assert_array_equal(
        validate_table(df[["grade"]].astype(float), kind="discrete").values, codes[:, [1]]
    )


def test_validate_table_categorical_keeps_unused_levels_in_declared_order() -> None:
    grade = pd.Categorical(["mid", "low", "mid", "top"] * 5, categories=["top", "unused", "mid", "low"])
    df = pd.DataFrame({"grade": grade, "ok": [0, 1] * 10})
    table = validate_table(df, kind="discrete")
    assert table.categories[0] == ("top", "unused", "mid", "low")  # not sorted, "unused" kept
    np.testing.assert_array_equal(table.values[:4, 0], [2, 3, 2, 0])  # the Categorical's own codes
    np.testing.assert_array_equal(table.values[:, 0], grade.codes)
    assert table.arities.tolist() == [4, 2]
    assert table.categories[1] == (0, 1)  # non-categorical columns: observed values, sorted
    ordered = df.assign(grade=pd.Categorical(grade, ordered=True))
    assert validate_table(ordered, kind="discrete").categories[0] == ("top", "unused", "mid", "low")


def test_validate_table_constant_columns_with_a_declared_domain() -> None:
    df = pd.DataFrame(
        {
            "alarm": pd.Categorical(["off"] * 20, categories=["off", "on"]),
            "level": pd.Categorical([3] * 20, categories=[1, 2, 3]),
            "x": [0, 1] * 10,
        }
    )
    table = validate_table(df, kind="discrete")
    assert table.categories[:2] == (("off", "on"), (1, 2, 3))
    assert table.arities.tolist() == [2, 3, 2]
    np.testing.assert_array_equal(table.values[:, :2], np.tile([0, 2], (20, 1)))
    # a Categorical made from a constant column has one category: its domain is not really declared
    with pytest.raises(ValueError, match="column 'alarm' declares a single category 'off'"):
        validate_table(df.assign(alarm=df["alarm"].astype(str).astype("category")), kind="discrete")
    with pytest.raises(ValueError, match=r"column 'alarm' is constant .* categories=\{'alarm': \[...\]\}"):
        validate_table(df.assign(alarm="off"), kind="discrete")


def test_validate_table_explicit_categories(tmp_path) -> None:
    df = pd.DataFrame({"alarm": ["off"] * 20, "level": [3, 1] * 10, "x": ["b", "a"] * 10})
    path = tmp_path / "plant.csv"
    df.to_csv(path, index=False)
    declared = {"alarm": ["off", "on"], "level": [3, 2, 1]}
    for source in (df, path):
        table = validate_table(source, kind="discrete", categories=declared)
        assert table.categories == (("off", "on"), (3, 2, 1), ("a", "b"))
        assert table.arities.tolist() == [2, 3, 2]
        np.testing.assert_array_equal(table.values[:2], [[0, 0, 1], [0, 2, 0]])
    # explicit categories override a Categorical's own, and name columns after ``names``
    renamed = validate_table(
        df.assign(x=pd.Categorical(df["x"])),
        kind="discrete",
        names=["p", "q", "r"],
        categories={"p": ("on", "off"), "r": ["b", "a", "c"]},
    )
    assert renamed.categories == (("on", "off"), (1, 3), ("b", "a", "c"))
    np.testing.assert_array_equal(renamed.values[:2], [[1, 1, 0], [1, 0, 1]])
    with pytest.raises(ValueError, match=r"column 'level' has value 1 \(row 1\) outside its declared"):
        validate_table(df, kind="discrete", categories={"alarm": ["off", "on"], "level": [2, 3]})
    with pytest.raises(ValueError, match="categories: 'nope' is not a column"):
        validate_table(df, kind="discrete", categories={"nope": [0, 1]})
    with pytest.raises(ValueError, match="categories: column 'x' declares 'a' more than once"):
        validate_table(df, kind="discrete", categories={**declared, "x": ["a", "b", "a"]})
    with pytest.raises(ValueError, match="categories: only discrete tables"):
        validate_table(frame(), categories={"age": [0, 1]})
    with pytest.raises(TypeError, match="categories: expected a sequence of labels for column 'x'"):
        validate_table(df, kind="discrete", categories={**declared, "x": {"a", "b"}})


def test_validate_table_argument_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="^kind: "):
        validate_table(frame(), kind="mixed")
    with pytest.raises(ValueError, match="^names: expected 3 names"):
        validate_table(frame().to_numpy(), names=["a", "b"])
    with pytest.raises(ValueError, match="^data: expected a 2-d table"):
        validate_table(np.zeros(30))
    with pytest.raises(FileNotFoundError, match="^data: no CSV file"):
        validate_table(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="distinct"):
        validate_table(pd.DataFrame(np.random.default_rng(0).normal(size=(20, 2)), columns=["a", "a"]))


# --------------------------------------------------------------------------------------------------
# Sachs et al. (2005)


def test_load_sachs() -> None:
    df = load_sachs()
    assert df.shape == (7466, 11)
    assert not df.isna().to_numpy().any()
    assert list(df.columns) == [
        "praf",
        "pmek",
        "plcg",
        "PIP2",
        "PIP3",
        "p44/42",
        "pakts473",
        "PKA",
        "PKC",
        "P38",
        "pjnk",
    ]
    assert (df.to_numpy() > 0).all()
    df.iloc[0, 0] = -1.0  # a copy: the cached table is untouched
    assert load_sachs().iloc[0, 0] == pytest.approx(26.4)
    values, names, _ = validate_table(load_sachs())
    assert values.shape == (7466, 11) and names == tuple(df.columns)


def test_sachs_consensus_edge_counts() -> None:
    graph = sachs_consensus()
    assert graph.adj.shape == (11, 11) and graph.adj.dtype == np.bool_
    assert graph.names == tuple(load_sachs().columns)
    assert int(graph.adj.sum()) == 18  # as documented in bayesguard/datasets/sachs/README.md
    assert not is_acyclic(graph.adj)  # PIP3 -> plcg -> PIP2 -> PIP3
    idx = {n: k for k, n in enumerate(graph.names)}
    assert (
        graph.adj[idx["PIP3"], idx["plcg"]]
        and graph.adj[idx["plcg"], idx["PIP2"]]
        and graph.adj[idx["PIP2"], idx["PIP3"]]
    )
    dag = sachs_consensus(acyclic=True)
    assert int(dag.adj.sum()) == 17 and is_acyclic(dag.adj)
    assert not dag.adj[idx["PIP3"], idx["plcg"]]
    np.testing.assert_array_equal(dag.adj | graph.adj, graph.adj)
