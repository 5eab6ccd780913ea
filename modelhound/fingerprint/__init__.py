"""Fingerprint stage: ModelDiff (DDV) profiles, pair generation and model comparison.

Importing this package loads numpy only; torch is imported when white-box pairs are
generated (``modelhound.fingerprint.gradient``), never for comparisons on stored pairs.
"""

from modelhound.fingerprint.compare import (
    DEFAULT_THRESHOLD,
    compare_on_pairs,
    compare_runnables,
    compare_with_profile,
)
from modelhound.fingerprint.inputs import InputAdapter, Normalization, tflite_input_normalization
from modelhound.fingerprint.interface import (
    PROFILE_SCHEMA_VERSION,
    Comparison,
    Generator,
    PairSet,
    PgdConfig,
    Profile,
    SearchConfig,
    SeedSet,
    Verdict,
)
from modelhound.fingerprint.modeldiff import compute_ddv, ddv_similarity
from modelhound.fingerprint.profile import (
    load_pairs,
    load_profile,
    profile_runnable,
    save_pairs,
    save_profile,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "PROFILE_SCHEMA_VERSION",
    "Comparison",
    "Generator",
    "InputAdapter",
    "Normalization",
    "PairSet",
    "PgdConfig",
    "Profile",
    "SearchConfig",
    "SeedSet",
    "Verdict",
    "compare_on_pairs",
    "compare_runnables",
    "compare_with_profile",
    "compute_ddv",
    "ddv_similarity",
    "load_pairs",
    "load_profile",
    "profile_runnable",
    "save_pairs",
    "save_profile",
    "tflite_input_normalization",
]
