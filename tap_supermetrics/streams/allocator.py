"""Keep page-sized buffers out of glibc's heap, so that a long window does not bloat it.

glibc serves an allocation above its mmap threshold (128 KiB at start) with a mapping
of its own, given back to the system when freed; but each time such a block is freed
it raises the threshold to that block's size, up to 32 MiB. From the first page on,
every page body (a few MB of JSON), its list of rows and its join buffer then come
from the heap, where they interleave with the window's long-lived row memory and
leave holes the next page cannot always reuse: with one window of 1,000,000 rows the
tap's peak RSS ended about 7 MB higher than with 100,000 rows, none of it live data
(`bench/run`, figure 2b). Setting the threshold explicitly turns the adjustment off.
With another C library nothing is changed.
"""

from __future__ import annotations

import ctypes
import sys

#: glibc's `M_MMAP_THRESHOLD` parameter of `mallopt` (malloc.h).
M_MMAP_THRESHOLD = -3
#: Blocks of this size and up get their own mapping: page bodies and row lists do,
#: the row memory's buckets (a few KB) do not.
MMAP_THRESHOLD_BYTES = 1 << 20


def keep_large_buffers_out_of_the_heap() -> bool:
    """Fix glibc's mmap threshold; whether it was set (False off glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
        gnu_libc_version = ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):  # not glibc (musl has no gnu_get_libc_version)
        return False
    del gnu_libc_version
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
