"""Test-wide settings: one thread per BLAS / OpenMP / torch pool.

The default run must stay under 5 minutes on 2 busy cores; several thread pools each sized to the
machine oversubscribe it (18 minutes were seen on a shared machine). The variables are set before
NumPy or PyTorch is imported by any test module.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)

try:  # torch reads OMP_NUM_THREADS at import, but pin it explicitly where it is installed
    import torch  # noqa: E402

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
except ImportError:  # the core tests run without the [gfn] extra
    pass


# ------------------------------------------------------------------ PostgreSQL for the audit store tests
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def pg_url():
    """The URL (``postgresql+psycopg://``) of a PostgreSQL server for the whole session:
    ``$BAYESGUARD_TEST_PG`` if set, else a throwaway server (:mod:`pg_server`) stopped and removed at the
    end. Without PostgreSQL the tests that use it skip, saying why, unless ``BAYESGUARD_REQUIRE_PG=1``
    (CI), which makes them fail instead."""
    import pg_server

    external = os.environ.get("BAYESGUARD_TEST_PG")
    if external:
        yield pg_server.psycopg_url(external)
        return
    server = pg_server.throwaway_server()
    try:
        url = server.__enter__()
    except pg_server.PgUnavailable as exc:
        if os.environ.get("BAYESGUARD_REQUIRE_PG") == "1":
            pytest.fail(f"BAYESGUARD_REQUIRE_PG=1 but PostgreSQL is unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def pg_fresh_url(pg_url):
    """A URL of the session's PostgreSQL server whose connections see only a new, empty schema (their
    ``search_path``), dropped after the test."""
    import pg_server

    with pg_server.fresh_schema(pg_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request, tmp_path):
    """An empty audit store's URL, once per backend: a SQLite file, and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    return request.getfixturevalue("pg_fresh_url")
