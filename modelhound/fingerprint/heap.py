"""How a process that runs PGD allocates memory (glibc only)."""

from __future__ import annotations

#: glibc's mallopt parameters, and what keep_freed_memory sets them to
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
HEAP_SETTINGS = ((_M_MMAP_THRESHOLD, 1 << 30), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20))
_heap_set = False


def keep_freed_memory() -> bool:
    """Let this process reuse freed memory for torch's big activations (glibc only; once).

    glibc serves an allocation above its mmap threshold (at most 32 MB by default) with a
    fresh mmap and unmaps it on free, so every forward+backward pass faults its activations
    in again, page by page: hand_landmark_lite at 224x224 in chunks of 25 took 285,000 page
    faults a pass and 40.9 ms a sample, none and 30.6 ms with big blocks kept in the heap
    (bench/profile/results-chunks.md). Raising the threshold and the trim threshold to 1 GB
    keeps them; the process then holds its peak heap until it exits, which is a worker's
    whole life. Numbers are unchanged: only where the memory comes from. Returns whether
    the settings are in effect (False off glibc).
    """
    global _heap_set
    if _heap_set:
        return True
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _heap_set = all(mallopt(param, value) == 1 for param, value in HEAP_SETTINGS)
    return _heap_set
