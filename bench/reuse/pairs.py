"""Generate (and cache) the pairs of one pair setting for a share of the zoo.

    python bench/reuse/pairs.py SETTING PART NPARTS

SETTING is ``pgd`` (the reference's settings), ``pgd-pixel-matched`` (eps and step scaled
by 0.226) or ``score-search`` (black-box, 1,000 iterations). ``run.py`` starts NPARTS of
these side by side; the cache files are per model, so the shares never collide.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import zoo  # noqa: E402
from evaluate import Bench  # noqa: E402

from modelhound.fingerprint.interface import PgdConfig, SearchConfig  # noqa: E402

CACHE = HERE / ".cache"
SETTINGS = {
    "pgd": ("profiles", PgdConfig(), None),
    "pgd-pixel-matched": ("profiles-eps-pixel-matched", PgdConfig(eps=0.06 * 0.226, step_size=0.01 * 0.226), None),
    "score-search": ("profiles-score-search", PgdConfig(), SearchConfig()),
}


def bench_for(setting: str, built: dict[str, zoo.BuiltModel]) -> Bench:
    """The cached Bench of one pair setting."""
    sub, pgd, search = SETTINGS[setting]
    return Bench(built, CACHE / sub, log=lambda m: print(m, flush=True), pgd=pgd, search=search)


def main() -> None:
    """Generate this share's pairs."""
    setting, part, nparts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    specs = zoo.zoo_specs()
    built = zoo.build_zoo(specs, CACHE / "models", zoo.Recipe())
    bench = bench_for(setting, built)
    for spec in [s for s in specs if not s.quantized][part::nparts]:
        bench.pairs(spec.name)


if __name__ == "__main__":
    main()
