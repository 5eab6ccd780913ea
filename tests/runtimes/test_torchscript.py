"""TorchScript in CPU torch: silero-vad's stateful jit runs as an audio model (sr held at
16000, reset before every sample) and agrees with the ONNX export shipped beside it."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from modelhound.converters.runtimes import OnnxRunnable
from modelhound.fingerprint.binding import single_input
from modelhound.runtimes import torchscript
from modelhound.runtimes.interface import NativeModel
from tests.conftest import fixture_path


def test_silero_jit_runs_deterministically_and_agrees_with_its_onnx_export() -> None:
    pytest.importorskip("torch")
    jit = torchscript.open(NativeModel(
        fixture_path("models", "pytorch", "silero_vad.jit").read_bytes(), "torchscript",
        name="silero_vad.jit"))
    assert [(s.name, s.shape) for s in jit.inputs] == [("x", (1, 512))]
    x = np.random.default_rng(0).standard_normal((4, 512)).astype(np.float32) * 0.1
    first = jit.run([x])[0]
    np.testing.assert_array_equal(first, jit.run([x])[0])  # state reset: same every time
    onnx = single_input(OnnxRunnable(
        fixture_path("models", "onnx", "silero_vad_16k_op15.onnx").read_bytes()))
    # the jit keeps a 64-sample context, zero after a reset: the ONNX export takes it inline
    with_context = np.concatenate([np.zeros((4, 64), np.float32), x], axis=1)
    np.testing.assert_allclose(first, onnx.run([with_context])[0], atol=1e-5)


def test_silero_jit_gets_pgd_pairs_through_its_own_graph(tmp_path) -> None:
    """torch differentiates the TorchScript model itself (no ONNX form): its batched
    pass with gradients equals one-sample runs, and the zoo generates its probe set with
    PGD (the black-box search cost 146 CPU s in the default zoo's build)."""
    pytest.importorskip("torch")
    import torch

    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_reference
    from modelhound.corpus.zoo import Zoo
    from modelhound.extractor import extract
    from modelhound.fingerprint.gradient import batch_mode

    jit = torchscript.open(NativeModel(
        fixture_path("models", "pytorch", "silero_vad.jit").read_bytes(), "torchscript",
        name="silero_vad.jit"))
    module = jit.differentiable()
    assert module is not None
    x = np.random.default_rng(1).standard_normal((5, 512)).astype(np.float32) * 0.1
    np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), jit.run([x])[0],
                               atol=1e-6)
    assert batch_mode(module, torch.from_numpy(x))

    zoo = Zoo.open(tmp_path / "zoo", create=True)
    # as it ships in silero-vad's wheel (a TorchScript archive alone reads as a plain zip)
    with zipfile.ZipFile(tmp_path / "silero_vad-5.1-py3-none-any.whl", "w") as zf:
        zf.write(fixture_path("models", "pytorch", "silero_vad.jit"), "silero_vad/data/silero_vad.jit")
    (found,) = extract(str(tmp_path / "silero_vad-5.1-py3-none-any.whl")).models
    with ConverterPool(1) as pool:
        ref = add_reference(zoo, found, pool=pool, name="silero_vad",
                            settings=ProfileSettings(n_pairs=6, pgd_steps=2))
    assert ref.probe_id, ref.profile_note
    assert ref.profile_note.startswith("pgd pairs generated on silero_vad"), ref.profile_note
    pairs = zoo.pairs(ref.probe_id)
    moved = np.abs(pairs.x_adv - pairs.x)
    assert moved.max() > 0 and moved.max() <= 0.06 + 1e-6
