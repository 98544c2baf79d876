"""``python -m fastdl``: print the configuration and check every kernel path against NumPy."""

from __future__ import annotations

import sys

from fastdl._selfcheck import main

sys.exit(main())
