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
