"""Seeds for token models (integer ids + masks) from real text and a real vocabulary.

Text: the licence texts every Debian system ships in ``/usr/share/common-licenses``
(base-files; real English sentences, about 1.3 M characters), read in sorted file order.

Vocabulary: word-level, built from that text by frequency the way Keras' ``Tokenizer`` and
TFLite Model Maker's average-word-vec text classifiers (the common on-device text models)
build theirs: lower-cased words, ``0`` = padding, ``1`` = start, ``2`` = unknown, then words
from the most frequent (ties in alphabetical order). A model whose embedding has V rows sees
ids below V only: rarer words become ``2`` (unknown), as in those tokenizers.

Seeds are windows of L consecutive words of running text (L = the model's sequence length),
so the attention mask is full (the binding holds it at ones).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelhound.errors import CorpusError

TEXT_DIR = "/usr/share/common-licenses"
PAD, START, UNKNOWN = 0, 1, 2
FIRST_WORD = 3
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Corpus:
    """Running text as word ids, with its vocabulary."""

    ids: np.ndarray
    """int64 id of every word of the text, in order."""
    vocabulary: tuple[str, ...]
    """Word of id ``FIRST_WORD + i``."""
    source: str

    def window_ids(self, vocab_size: int) -> np.ndarray:
        """The text's ids for a model with ``vocab_size`` embedding rows."""
        return np.where(self.ids < vocab_size, self.ids, UNKNOWN)


def corpus(folder: str | os.PathLike[str] = TEXT_DIR) -> Corpus:
    """Words of the text files in ``folder`` (see module docstring)."""
    base = Path(folder)
    files = sorted(p for p in base.iterdir() if p.is_file()) if base.is_dir() else []
    words: list[str] = []
    for path in files:
        try:
            words += _WORD.findall(path.read_text(encoding="utf-8", errors="replace").lower())
        except OSError:
            continue
    if len(words) < 1000:
        raise CorpusError(f"{folder}: no real text for token seeds (Debian's base-files ships "
                          "the licence texts there)")
    counts = Counter(words)
    vocabulary = tuple(sorted(counts, key=lambda w: (-counts[w], w)))
    index = {w: FIRST_WORD + i for i, w in enumerate(vocabulary)}
    return Corpus(np.array([index[w] for w in words], dtype=np.int64), vocabulary,
                  f"{len(files)} licence texts in {folder} ({len(words)} words, "
                  f"{len(vocabulary)}-word frequency vocabulary)")


def token_seeds(spec: Any, text: Corpus, vocab_size: int, n: int = 100, seed: int = 0) -> Any:
    """``n`` windows of consecutive word ids fitting ``spec`` ([batch, L]), as float32."""
    from modelhound.fingerprint.interface import SeedSet

    length = int(spec.shape[-1]) if spec.shape and spec.shape[-1] > 0 else 16
    ids = text.window_ids(vocab_size)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - length, size=n)
    data = np.stack([ids[s:s + length] for s in starts]).astype(np.float32)
    shape = (n, *[d if d > 0 else length for d in spec.shape[1:]])
    return SeedSet(name=f"{text.source}: {n} windows of {length} words, ids below "
                        f"{vocab_size} (seed {seed})",
                   data=data.reshape(shape), is_image=False, domain="tokens")
