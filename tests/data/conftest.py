"""Fixtures and settings for the data tests."""

import os

# tblite runs OpenMP; on a small, shared machine several spinning threads per tiny single point
# slow the in-process GFN2-xTB tests down by orders of magnitude. Must be set before tblite loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
