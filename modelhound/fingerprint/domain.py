"""Input domains: what kind of data a model's data input takes, so probes are only replayed
on models of the same kind.

A probe set records the domain of the input it was generated for, and a suspect is run
only on probe sets of its own domain (a keyword spotter is never fed face crops, nor an
image classifier MFCC frames). The domain is decided from the declared inputs, without
running anything, after the multi-input binding (:mod:`modelhound.fingerprint.binding`)
has chosen the data input:

* ``image``: the data input looks like an image batch (:class:`~.inputs.InputAdapter`);
* ``tokens``: the data input holds integer ids (a text model's ``input_ids``; the binding
  holds its ``attention_mask`` at ones and its ``token_type_ids`` at zeros);
* ``audio``: a float ``[batch, samples]`` waveform: the model has a sample-rate or a
  recurrent-state input beside it (silero-vad), its runtime says so (layout ``audio``:
  TorchScript ``forward(x, sr: int)``), its length is free (the binding then marks it
  ``audio``: openwakeword's melspectrogram), or the data input is named like a waveform
  (``audio``, ``waveform``, ``wav``, ``pcm``, ``samples``, ``speech``);
* ``audio-features``: float frames of a speech front end, named like one (``mfcc``,
  ``fbank``, ``mel``, ``spectrogram``, ``logmel``), e.g. ARM ML-KWS's ``Mfcc:0`` [1, 25, 10];
* ``vector``: anything else (sensor windows, tabular features), fed seeded vectors.

Audio, audio-features and token seeds come from real recordings and real text
(:mod:`modelhound.corpus.audio_seeds`, :mod:`modelhound.corpus.text_seeds`).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from modelhound.records import TensorSpec

IMAGE = "image"
AUDIO = "audio"
AUDIO_FEATURES = "audio-features"
TOKENS = "tokens"
VECTOR = "vector"
#: every domain, in the order reports list them
DOMAINS: tuple[str, ...] = (IMAGE, AUDIO, AUDIO_FEATURES, TOKENS, VECTOR)

_WAVE_NAME = re.compile(r"(^|[_./:])(audio|waveform|wave|wav|pcm|samples|speech)([_./:]|\d|$)",
                        re.I)
_FEATURE_NAME = re.compile(r"(mfcc|fbank|filterbank|spectrogram|mel_?spec|"
                           r"(^|[_./:-])(log_?)?mels?([_./:-]|\d|$))", re.I)
_IDS_NAME = re.compile(r"(ids$|^ids|tokens?$|input_?word|^input_?ids)", re.I)


def _leaf(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def is_feature_input(spec: TensorSpec) -> bool:
    """Whether a float input is named like speech features (never read as an image)."""
    return spec.dtype.startswith("float") and bool(_FEATURE_NAME.search(_leaf(spec.name)))


def data_domain(data: TensorSpec, others: Sequence[TensorSpec] = ()) -> str:
    """The domain of a data input, given the model's other inputs (see module docstring)."""
    from modelhound.fingerprint.binding import _kind
    from modelhound.fingerprint.inputs import InputAdapter

    kind = np.dtype(data.dtype).kind if data.dtype != "str" else "O"
    kinds = {_kind(s) for s in others}
    if kind in "iu" and (_IDS_NAME.search(_leaf(data.name)) or "mask" in kinds
                         or "zero-ids" in kinds):
        return TOKENS
    if is_feature_input(data):
        return AUDIO_FEATURES
    if kind == "f" and len(data.shape) == 2 and (
            "rate" in kinds or "state" in kinds or _WAVE_NAME.search(_leaf(data.name))
            or data.layout == "audio"):
        return AUDIO
    if InputAdapter(data).geometry is not None:
        return IMAGE
    if kind in "iu" and len(data.shape) == 2 and data.dtype not in ("uint8", "int8"):
        return TOKENS
    return VECTOR


def model_domain(inputs: Sequence[TensorSpec]) -> tuple[str, TensorSpec] | None:
    """(domain, data input with its free length fixed) of a model; None when no input can
    carry data."""
    from modelhound.fingerprint.binding import bind

    binding = bind(inputs)
    if binding is None:
        return (data_domain(inputs[0]), inputs[0]) if len(inputs) == 1 else None
    others = [s for i, s in enumerate(inputs) if i != binding.data]
    return data_domain(binding.data_spec, others), binding.data_spec
