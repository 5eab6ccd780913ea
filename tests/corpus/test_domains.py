"""Input domains: probe sets say their domain, audio and token references get seeds from real
recordings and real text, and a suspect runs only on probe sets of its own domain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelhound.converters.runtimes import OnnxRunnable
from modelhound.errors import ProfileError
from modelhound.fingerprint.domain import model_domain
from modelhound.fingerprint.interface import Generator, PairSet
from modelhound.fingerprint.profile import load_pairs, save_pairs
from modelhound.records import TensorSpec
from tests.conftest import fixture_path
from tests.fingerprint.test_binding import text_model

CIFAR = ("models", "onnx", "Stateful-CNN-squeezenet_cifar10.onnx")
HAS_AUDIO = Path("/usr/share/sounds/alsa/Noise.wav").exists()
needs_audio = pytest.mark.skipif(not HAS_AUDIO, reason="Debian alsa-utils recordings absent "
                                                       "(scripts/setup.sh installs them in CI)")
needs_text = pytest.mark.skipif(not Path("/usr/share/common-licenses").is_dir(),
                                reason="no Debian licence texts")


def _domain(path: tuple[str, ...]) -> str:
    dom = model_domain(OnnxRunnable(fixture_path(*path).read_bytes()).inputs)
    assert dom is not None
    return dom[0]


def test_each_fixture_model_gets_its_domain() -> None:
    assert _domain(("models", "onnx", "silero_vad_16k_op15.onnx")) == "audio"
    assert _domain(("models", "onnx", "Stateful-CNN-KWS-DNN_S.onnx")) == "audio-features"
    assert _domain(("models", "onnx", "Stateful-CNN-squeezenet_cifar10.onnx")) == "image"
    pytest.importorskip("torch")
    from modelhound.runtimes import torchscript
    from modelhound.runtimes.interface import NativeModel

    jit = torchscript.open(NativeModel(fixture_path("models", "pytorch", "silero_vad.jit")
                                       .read_bytes(), "torchscript"))
    assert model_domain(jit.inputs) == ("audio", jit.inputs[0])  # forward(x, sr: int)
    stress = model_domain((TensorSpec("X", (1, 124), "float32"),))  # leschiera stress model
    assert stress is not None and stress[0] == "vector"
    dom = model_domain(OnnxRunnable(text_model()).inputs)
    assert dom is not None and dom[0] == "tokens" and dom[1].name == "input_ids"
    # MFCC frames [1, 25, 10] are never resized as if they were a 25x10 grey image
    from modelhound.fingerprint.inputs import InputAdapter

    assert not InputAdapter(TensorSpec("Mfcc:0", (1, 25, 10), "float32")).is_image


def _pairs(domain: str = "") -> PairSet:
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    return PairSet("s", x, x + 1, False, Generator.SCORE_SEARCH, "m", "in", "cfg", domain=domain)


def test_pair_sets_store_their_domain_and_old_ones_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    save_pairs(path, _pairs("tokens"))
    assert load_pairs(path).domain == "tokens"
    # a version-1 file (before domains): read as the vector domain its is_image flag says
    meta = {"schema_version": 1, "algorithm": "modeldiff-ddv", "pairs_id": _pairs().pairs_id,
            "seeds_name": "s", "is_image": False, "generator": "score-search",
            "generated_on": "m", "generator_input": "in", "config": "cfg"}
    old = _pairs()
    with open(path, "wb") as fh:
        np.savez_compressed(fh, x=old.x, x_adv=old.x_adv, meta=np.array(json.dumps(meta)))
    assert load_pairs(path).domain == "vector"
    meta["schema_version"] = 99
    with open(path, "wb") as fh:
        np.savez_compressed(fh, x=old.x, x_adv=old.x_adv, meta=np.array(json.dumps(meta)))
    with pytest.raises(ProfileError, match="schema_version 99"):
        load_pairs(path)


@needs_audio
def test_audio_seeds_are_real_speech_and_real_noise() -> None:
    from modelhound.corpus.audio_seeds import SILENCE_RMS, mfcc_seeds, recordings, waveform_seeds

    rec = recordings()
    assert len(rec.speech) >= 8 and len(rec.noise) == 1 and "alsa-utils" in rec.name
    seeds = waveform_seeds(TensorSpec("input", (1, 576), "float32"), rec, n=20, seed=3)
    assert seeds.domain == "audio" and seeds.data.shape == (20, 576)
    rms = np.sqrt((seeds.data ** 2).mean(axis=1))
    assert (rms[:16] >= SILENCE_RMS).mean() >= 0.75  # speech windows, not silence
    assert np.all(np.abs(seeds.data) <= 1.0)
    again = waveform_seeds(TensorSpec("input", (1, 576), "float32"), rec, n=20, seed=3)
    np.testing.assert_array_equal(seeds.data, again.data)
    feats = mfcc_seeds(TensorSpec("Mfcc:0", (1, 25, 10), "float32"), rec, n=4)
    assert feats.domain == "audio-features" and feats.data.shape == (4, 25, 10)
    assert np.all(np.isfinite(feats.data)) and feats.data.std() > 1


@needs_text
def test_token_seeds_are_real_text_below_the_models_vocabulary() -> None:
    from modelhound.corpus.text_seeds import UNKNOWN, corpus, token_seeds
    from modelhound.fingerprint.tokens import embedding_rows

    assert embedding_rows(text_model(), "input_ids") == 100
    text = corpus()
    assert text.vocabulary[:3] == ("the", "of", "or") or "the" in text.vocabulary[:5]
    seeds = token_seeds(TensorSpec("input_ids", (1, 12), "int64"), text, 100, n=30)
    assert seeds.domain == "tokens" and seeds.data.shape == (30, 12)
    assert seeds.data.max() < 100 and (seeds.data != UNKNOWN).mean() > 0.5


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A zoo of a token model (ids + attention mask) and an image model (a real CIFAR-10
    SqueezeNet)."""
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_file
    from modelhound.corpus.zoo import Zoo

    folder = tmp_path_factory.mktemp("domains")
    (folder / "text.onnx").write_bytes(text_model(0))
    z = Zoo.open(folder / "zoo", create=True)
    with ConverterPool(1) as pool:
        for f in (folder / "text.onnx", fixture_path(*CIFAR)):
            add_file(z, str(f), pool=pool, settings=ProfileSettings(n_pairs=20, pgd_steps=2))
    return z


def _suspect(zoo: object, data: bytes) -> object:
    from modelhound.converters.registry import convert_here
    from modelhound.corpus.match import Matcher
    from modelhound.corpus.suspect import run_suspect
    from tests.corpus.helpers import found_model

    found = found_model(data, "m.onnx")
    return run_suspect(Matcher(zoo), found, convert_here(found))


@needs_text
def test_token_reference_is_profiled_on_real_text_and_suspects_stay_in_their_domain(zoo) -> None:
    from modelhound.fingerprint.modeldiff import ddv_similarity

    refs = {r.name: r for r in zoo.references()}
    text, cifar = refs["text"], refs["Stateful-CNN-squeezenet_cifar10"]
    assert zoo.pairs(text.probe_id).domain == "tokens"
    assert zoo.pairs(text.probe_id).generator is Generator.TOKEN_SEARCH
    assert "licence texts" in text.seeds and "input_ids" in text.profile_note
    assert zoo.pairs(cifar.probe_id).domain == "image"
    # a token suspect runs on the token probe set only, an image suspect on the image one
    other = _suspect(zoo, text_model(seed=5))
    assert set(other.ddvs) == {text.probe_id}
    images = _suspect(zoo, fixture_path(*CIFAR).read_bytes())
    assert set(images.ddvs) == {cifar.probe_id}
    # the multi-input model's DDV is the same on every run (seeded) and differs from an
    # unrelated model's
    ref_ddv = np.asarray(zoo.profile(text).ddv)
    same = _suspect(zoo, text_model(0))
    np.testing.assert_allclose(np.asarray(same.ddvs[text.probe_id]), ref_ddv, atol=1e-6)
    assert ddv_similarity(ref_ddv, np.asarray(other.ddvs[text.probe_id])) < 0.9


@needs_text
def test_token_probe_set_is_the_same_when_built_again(zoo, tmp_path: Path) -> None:
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_file
    from modelhound.corpus.zoo import Zoo

    (tmp_path / "text.onnx").write_bytes(text_model(0))
    again = Zoo.open(tmp_path / "zoo", create=True)
    with ConverterPool(1) as pool:
        (ref,) = add_file(again, str(tmp_path / "text.onnx"), pool=pool,
                          settings=ProfileSettings(n_pairs=20, pgd_steps=2))
    first = {r.name: r for r in zoo.references()}["text"]
    assert ref.probe_id == first.probe_id
    assert again.profile(ref).ddv == zoo.profile(first).ddv


def wave_model(seed: int = 0, scale: float = 1.0) -> bytes:
    """A learned front end as openwakeword's melspectrogram.onnx declares it: one float input
    "input" [batch_size, samples] with a free length and no sample-rate or state input,
    framed by a strided Conv1D, then pooled: [batch, 8]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((8, 1, 64)) * scale).astype(np.float32)
    nodes = [helper.make_node("Unsqueeze", ["input", "ax1"], ["x3"]),
             helper.make_node("Conv", ["x3", "W"], ["f"], strides=[32]),
             helper.make_node("Relu", ["f"], ["r"]),
             helper.make_node("ReduceMean", ["r"], ["out"], axes=[2], keepdims=0)]
    graph = helper.make_graph(
        nodes, "wave",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", "samples"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch_size", 8])],
        initializer=[numpy_helper.from_array(w, "W"),
                     numpy_helper.from_array(np.array([1], np.int64), "ax1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_float_input_of_free_length_is_a_waveform() -> None:
    """openwakeword's melspectrogram.onnx ([batch_size, samples], nothing beside it) was read
    as a 16-element vector, too short for its STFT: it now gets an audio window."""
    from modelhound.fingerprint.binding import AUDIO_WINDOW, SEQUENCE

    dom = model_domain(OnnxRunnable(wave_model()).inputs)
    assert dom is not None and dom[0] == "audio" and dom[1].shape == (1, AUDIO_WINDOW)
    # fixed-length float vectors stay vectors, free-length integer ids stay tokens
    fixed = model_domain((TensorSpec("X", (1, 124), "float32"),))
    assert fixed is not None and fixed[0] == "vector" and fixed[1].shape == (1, 124)
    ids = model_domain((TensorSpec("x", (1, -1), "int64"),))
    assert ids is not None and ids[0] == "tokens" and ids[1].shape == (1, SEQUENCE)


@needs_audio
def test_a_free_length_waveform_reference_is_profiled_on_recordings_and_its_copy_matches(
        tmp_path: Path) -> None:
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_file
    from modelhound.corpus.zoo import Zoo
    from modelhound.fingerprint.binding import AUDIO_WINDOW

    (tmp_path / "wave.onnx").write_bytes(wave_model(0))
    z = Zoo.open(tmp_path / "zoo", create=True)
    with ConverterPool(1) as pool:
        (ref,) = add_file(z, str(tmp_path / "wave.onnx"), pool=pool,
                          settings=ProfileSettings(n_pairs=20, pgd_steps=2))
    pairs = z.pairs(ref.probe_id)
    assert pairs.domain == "audio" and pairs.x.shape == (20, AUDIO_WINDOW)
    assert z.profile(ref).ddv  # a behavioural profile, not "no data input"
    # a fine-tuned copy (weights moved 1 %) runs on that probe set and matches it; an
    # unrelated front end of the same shape does not
    close = _suspect(z, wave_model(0, scale=1.01))
    other = _suspect(z, wave_model(7))
    assert set(close.ddvs) == {ref.probe_id}
    from modelhound.fingerprint.modeldiff import ddv_similarity

    ref_ddv = np.asarray(z.profile(ref).ddv)
    near = ddv_similarity(ref_ddv, np.asarray(close.ddvs[ref.probe_id]))
    assert near > 0.99 and near > ddv_similarity(ref_ddv, np.asarray(other.ddvs[ref.probe_id]))
    # the conversion check ran the model on a waveform window, not on 16 samples
    from modelhound.converters.registry import convert_here
    from tests.corpus.helpers import found_model

    checked = convert_here(found_model(wave_model(0), "m.onnx"))
    assert checked.runnable and "not run on seeded inputs" not in checked.reason
