"""Build (train + export) the whole reuse zoo into the cache: ``python bench/reuse/build.py``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import zoo  # noqa: E402

CACHE = HERE / ".cache" / "models"


def main() -> None:
    """Build every model of :func:`zoo.zoo_specs` not yet cached."""
    t0 = time.time()
    specs = zoo.zoo_specs()
    if len(sys.argv) > 1:  # build one lineage prefix only (to use both cores)
        prefixes = tuple(sys.argv[1:])
        specs = [s for s in specs if s.name.startswith(prefixes)]
    zoo.build_zoo(specs, CACHE, zoo.Recipe(), log=lambda m: print(m, flush=True))
    print(f"zoo: {len(specs)} models in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
