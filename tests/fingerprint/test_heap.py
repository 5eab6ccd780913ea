"""PGD's processes keep big freed blocks in their heap (glibc), so a pass's activations
are not faulted in again page by page."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


_FAULTS = """
import resource, sys
import torch
from modelhound.fingerprint.heap import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
a = torch.ones(64 << 18)  # 64 MB, above glibc's largest mmap threshold
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = torch.ones(64 << 18)
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_freed_activations_are_reused_instead_of_faulted_in_again() -> None:
    """PGD's process keeps big freed blocks: allocating a 64 MB buffer again (20 times) touches
    memory the process already has (glibc's default maps it afresh and faults in every page)."""
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True,
                             text=True, check=True)
        return int(out.stdout.strip())

    default, kept = faults("default"), faults("kept")
    assert default > 20 * 15_000  # 16,384 pages of 4 KB per buffer, twenty times
    assert kept < default // 10  # at most about one buffer's pages
