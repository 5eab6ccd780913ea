"""The fingerprint stage's interface: ModelDiff records that are stored, compared and reported.

ModelDiff (Li et al., ISSTA 2021) fingerprints a model by how it reacts to input pairs
``(x_i, x'_i)``: ``DDV_i = 1 - cos(f(x_i), f(x'_i))``. Two models are compared through the
cosine of their (unit-norm) DDVs on the *same* pairs. This module holds the frozen records
that cross the stage boundary; it imports numpy only, never torch or tensorflow.

Spaces used throughout the stage:

* **canonical space**: what a :class:`PairSet` stores. Images are float32 NHWC arrays in
  ``[0, 1]`` ("pixel space", 1 or 3 channels); non-image inputs are float32 arrays in the
  generator model's own float input space.
* **model float space**: the normalised float values a model computes on (after TFLite
  metadata normalisation, before quantization). ModelDiff's PGD (eps 0.06) works here.
* **model space**: what :meth:`Runnable.run` takes (declared dtype, layout, shape).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

#: Version of the stored :class:`Profile` / :class:`PairSet` layout. 2: a pair set records its
#: input domain (:mod:`modelhound.fingerprint.domain`); version-1 files are read as the image
#: or vector domain their ``is_image`` flag says. Loaders refuse any other version.
PROFILE_SCHEMA_VERSION = 2
#: Older stored versions that loaders migrate on read.
READABLE_SCHEMA_VERSIONS = (1, 2)

#: Name of the fingerprint algorithm stored in profiles.
ALGORITHM = "modeldiff-ddv"


class Generator(str, enum.Enum):
    """How the perturbed half ``x'`` of the pairs was produced."""

    PGD = "pgd"
    """White-box: L-inf PGD through a differentiable (torch) copy of the ONNX form."""
    SCORE_SEARCH = "score-search"
    """Black-box: the paper's random single-coordinate search on divergence + 0.5*diversity."""
    TOKEN_SEARCH = "token-search"
    """Black-box, for token ids: per sequence, the one-token substitution (among seeded
    candidates from the vocabulary) that moves the outputs most (:mod:`.tokens`)."""


@dataclass(frozen=True)
class PgdConfig:
    """ModelDiff's PGD settings, as in the reference code's ``evaluate.ipynb``."""

    eps: float = 0.06
    """L-inf radius, in model float space."""
    steps: int = 50
    step_size: float = 0.01
    rand_init: bool = True
    target_scale: float = 1000.0
    """T = target_scale * (batch-mean outputs - own outputs)."""
    rest_weight: float = 0.1
    """Weight of the mean squared error on outputs 1..k-1; output 0 has weight 1."""
    seed: int = 0


@dataclass(frozen=True)
class SearchConfig:
    """The paper's black-box "score" search (reference ``test.ipynb``, later cell)."""

    iterations: int = 1000
    eps: float = 0.2
    """Size of one single-coordinate mutation, in model float space."""
    diversity_weight: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class SeedSet:
    """Seed inputs ``x_i`` in canonical space, with where they came from."""

    name: str
    """Human-readable origin, e.g. ``mnist-5k[train] first 100 after shuffle(seed=0)``."""
    data: np.ndarray = field(repr=False)
    """float32; images NHWC in [0, 1], anything else (N, ...) in model float space."""
    is_image: bool = True
    domain: str = ""
    """Input domain (:mod:`modelhound.fingerprint.domain`); '' = image or vector by ``is_image``."""

    def __post_init__(self) -> None:
        """Check the array is a batch; fill in the domain."""
        if self.data.ndim < 2 or self.data.shape[0] == 0:
            raise ValueError(f"seed set {self.name!r}: expected a non-empty batch, got {self.data.shape}")
        if not self.domain:
            object.__setattr__(self, "domain", "image" if self.is_image else "vector")


@dataclass(frozen=True)
class PairSet:
    """The ModelDiff input pairs, stored once and replayed on every model compared."""

    seeds_name: str
    x: np.ndarray = field(repr=False)
    """Normal inputs, canonical space."""
    x_adv: np.ndarray = field(repr=False)
    """Perturbed inputs, canonical space, same shape as ``x``."""
    is_image: bool
    generator: Generator
    generated_on: str
    """Identifier of the model the pairs were generated on (sha256 or a name)."""
    generator_input: str
    """``TensorSpec.describe()`` of the generator's input."""
    config: str
    """repr of the :class:`PgdConfig` / :class:`SearchConfig` used."""
    domain: str = ""
    """Input domain the pairs were made for (:mod:`modelhound.fingerprint.domain`); a suspect
    is only run on probe sets of its own domain. '' = image or vector by ``is_image``."""

    def __post_init__(self) -> None:
        """Fill in the domain of pairs made before domains existed."""
        if not self.domain:
            object.__setattr__(self, "domain", "image" if self.is_image else "vector")

    @property
    def n(self) -> int:
        """Number of pairs."""
        return int(self.x.shape[0])

    @cached_property
    def pairs_id(self) -> str:
        """Content hash of the pairs: profiles computed on other pairs are not comparable."""
        h = hashlib.sha256()
        for arr in (self.x, self.x_adv):
            a = np.ascontiguousarray(arr, dtype=np.float32)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Profile:
    """A model's ModelDiff fingerprint on one pair set: its unit-norm DDV."""

    subject: str
    """Identifier of the profiled model (sha256 of its file, or a name)."""
    pairs_id: str
    ddv: tuple[float, ...]
    inputs: str = ""
    """How the pairs were fed to this model (``TensorSpec.describe()`` after adaptation)."""
    algorithm: str = ALGORITHM
    schema_version: int = PROFILE_SCHEMA_VERSION

    def vector(self) -> np.ndarray:
        """The DDV as a float64 array."""
        return np.asarray(self.ddv, dtype=np.float64)


class Verdict(str, enum.Enum):
    """Outcome of one comparison at the stated threshold."""

    REUSED = "reused"
    NOT_REUSED = "not-reused"


@dataclass(frozen=True)
class Comparison:
    """Result of comparing two models (or a model against a stored profile) with ModelDiff."""

    similarity: float
    """Cosine of the two DDVs, in [0, 1] (both are non-negative)."""
    threshold: float
    verdict: Verdict
    pairs_id: str
    n_pairs: int
    generator: Generator
    generated_on: str
    """Which model the pairs were generated on (``a``, ``b`` or a stored reference id)."""
    seeds: str
    """Where the seed inputs came from."""
    inputs_a: str
    """How the pairs were fed to model A."""
    inputs_b: str
    ddv_a: tuple[float, ...] = field(default=(), repr=False)
    ddv_b: tuple[float, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready view (without the DDVs)."""
        return {
            "similarity": self.similarity,
            "threshold": self.threshold,
            "verdict": self.verdict.value,
            "pairs_id": self.pairs_id,
            "n_pairs": self.n_pairs,
            "generator": self.generator.value,
            "generated_on": self.generated_on,
            "seeds": self.seeds,
            "inputs_a": self.inputs_a,
            "inputs_b": self.inputs_b,
        }
