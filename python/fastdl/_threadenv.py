"""OpenMP wait policy, set before ``fastdl._core`` loads libgomp.

libgomp reads its environment once, when it is loaded. By default its idle workers spin for a
long time after each parallel region, taking the cores that NumPy's OpenBLAS threads need next
(an OpenMP kernel alternating with a 256x256 ``np.matmul`` ran ~45x slower than the two apart).
A short spin keeps back-to-back fastdl kernels cheap while letting the cores go soon after.

The user's own settings win: nothing is changed when ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``
is already set. If libgomp was already loaded by another module, its settings stay in force;
``fastdl.config()["omp_wait"]`` reports what fastdl asked for.
"""

from __future__ import annotations

import os

# Spin iterations before a worker sleeps (about a microsecond), enough to catch the next
# kernel of a training step, short enough not to starve OpenBLAS.
DEFAULT_SPINCOUNT = "1000"

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = DEFAULT_SPINCOUNT
    requested = f"GOMP_SPINCOUNT={DEFAULT_SPINCOUNT} (set by fastdl)"
else:
    requested = ", ".join(
        f"{k}={os.environ[k]}" for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT") if k in os.environ
    )
