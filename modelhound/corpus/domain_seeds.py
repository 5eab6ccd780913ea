"""Seeds for a reference's probe set, chosen by its input domain.

* ``image``: the caller's image seeds (package sample images, faces for face models);
* ``audio`` / ``audio-features``: real speech and noise (:mod:`.audio_seeds`);
* ``tokens``: real text through a frequency vocabulary, ids below the model's embedding
  rows (:mod:`.text_seeds`, :func:`modelhound.fingerprint.tokens.embedding_rows`);
* ``vector``: None, so the fingerprint stage's seeded fallback is used and named.

Recordings and text are read once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from modelhound.fingerprint.domain import AUDIO, AUDIO_FEATURES, IMAGE, TOKENS


@lru_cache(maxsize=2)
def _recordings(cache: str) -> Any:
    from modelhound.corpus.audio_seeds import recordings

    return recordings(cache or None)


@lru_cache(maxsize=1)
def _text() -> Any:
    from modelhound.corpus.text_seeds import corpus

    return corpus()


def domain_seed_set(domain: str, spec: Any, *, image_seeds: Callable[[Any], Any] | None = None,
                    onnx: bytes | None = None, n: int = 100, seed: int = 0) -> Any:
    """A SeedSet for ``spec`` in ``domain`` (None: use the documented fallback).

    Raises CorpusError when the domain's real data cannot be found.
    """
    if domain == IMAGE:
        return image_seeds(spec) if image_seeds is not None else None
    if domain in (AUDIO, AUDIO_FEATURES):
        from modelhound.corpus.audio_seeds import mfcc_seeds, waveform_seeds
        from modelhound.corpus.default import cache_dir

        rec = _recordings(str(cache_dir()))
        make = waveform_seeds if domain == AUDIO else mfcc_seeds
        return make(spec, rec, n=n, seed=seed)
    if domain == TOKENS:
        from modelhound.corpus.text_seeds import FIRST_WORD, token_seeds
        from modelhound.fingerprint.tokens import embedding_rows

        text = _text()
        rows = embedding_rows(onnx, spec.name) if onnx is not None else None
        return token_seeds(spec, text, rows or FIRST_WORD + len(text.vocabulary), n=n, seed=seed)
    return None
