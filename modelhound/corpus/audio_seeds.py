"""Seeds for audio models from real recordings: speech and background noise that Debian
packages ship with their data.

Sources (:data:`AUDIO_SOURCES`, read in this order):

* ``alsa-utils``: ``/usr/share/sounds/alsa/*.wav``, a recorded voice saying the speaker
  channel names (8 clips, 48 kHz, 1.3-1.5 s) and ``Noise.wav`` (recorded noise);
* ``asterisk-core-sounds-en-wav`` (CC-BY-SA-3.0): 568 recorded English prompts
  (``/usr/share/asterisk/sounds/en_US_f_Allison``, 8 kHz); every 4th file in sorted order.

``scripts/setup.sh`` installs both where it may (CI as root). Elsewhere, when neither is
installed, :func:`recordings` fetches their ``.deb`` files once with ``apt-get download``
into the cache folder and unpacks them with ``dpkg-deb -x`` (nothing is installed). Tests
never download: they use what is installed.

Everything is brought to 16 kHz mono float32 in [-1, 1] (the rate every fixture audio model
uses): 48 kHz is low-passed (windowed sinc, 7.2 kHz) and decimated by 3, other rates are
linearly interpolated.

* :func:`waveform_seeds`: windows of the model's length, 80 % from speech (a window is
  re-drawn up to 10 times until it is not silence), 20 % from the noise recording;
* :func:`mfcc_seeds`: 1 s clips through TensorFlow's own speech front end
  (``AudioSpectrogram`` + ``Mfcc``, as ARM ML-KWS and TensorFlow's speech-commands models
  compute their input): 40 ms windows strided to give the declared frame count, the
  declared number of coefficients.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelhound.errors import CorpusError

RATE = 16000
#: (Debian package, folder under /usr/share, glob, take every k-th file, noise file names)
AUDIO_SOURCES: tuple[tuple[str, str, str, int, tuple[str, ...]], ...] = (
    ("alsa-utils", "sounds/alsa", "*.wav", 1, ("Noise.wav",)),
    ("asterisk-core-sounds-en-wav", "asterisk/sounds/en_US_f_Allison", "**/*.wav", 4, ()),
)
SPEECH_SHARE = 0.8
SILENCE_RMS = 0.01


@dataclass(frozen=True)
class Recordings:
    """Speech and noise at 16 kHz, with where they came from."""

    speech: tuple[np.ndarray, ...]
    noise: tuple[np.ndarray, ...]
    sources: tuple[str, ...]

    @property
    def name(self) -> str:
        """Human-readable origin for seed-set names."""
        return (f"{len(self.speech)} speech + {len(self.noise)} noise recordings "
                f"({', '.join(self.sources)})")


def read_wav(path: str | os.PathLike[str]) -> np.ndarray:
    """A PCM WAV file (8/16/32-bit, any channels) as 16 kHz mono float32 in [-1, 1]."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise CorpusError(f"{path}: not a readable PCM WAV file ({exc})") from exc
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        x = np.frombuffer(raw, dtype).astype(np.float32) / float(np.iinfo(dtype).max)
    else:
        raise CorpusError(f"{path}: {8 * width}-bit WAV samples are not supported")
    x = x.reshape(-1, channels).mean(axis=1)
    return resample(x, rate)


def resample(x: np.ndarray, rate: int) -> np.ndarray:
    """Mono float samples at ``rate`` to 16 kHz (see module docstring)."""
    if rate == RATE:
        return x.astype(np.float32)
    if rate == 3 * RATE:
        taps = np.arange(-31, 32)
        cutoff = 7200.0 / rate
        h = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(len(taps))
        return np.convolve(x, h / h.sum(), mode="same")[::3].astype(np.float32)
    t_out = np.arange(int(len(x) * RATE / rate)) * (rate / RATE)
    return np.interp(t_out, np.arange(len(x)), x).astype(np.float32)


def _fetch_deb(package: str, cache: Path) -> Path | None:
    """The package's files unpacked under ``cache`` (apt-get download + dpkg-deb -x)."""
    root = cache / "seed-audio" / package
    if (root / "COMPLETE").exists():
        return root / "usr" / "share"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["apt-get", "download", "-qq", package], cwd=tmp, check=True,
                           capture_output=True, timeout=600)
            debs = sorted(Path(tmp).glob("*.deb"))
            if not debs:
                return None
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True,
                           capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError):
            return None
    (root / "COMPLETE").write_text(package)
    return root / "usr" / "share"


def recordings(cache: str | os.PathLike[str] | None = None,
               share: str | os.PathLike[str] = "/usr/share") -> Recordings:
    """The recordings of :data:`AUDIO_SOURCES` (installed, or fetched into ``cache``).

    Raises CorpusError when no speech recording can be found.
    """
    rec = _read(lambda package: Path(share))
    if not rec.speech and cache is not None:  # nothing installed: fetch the packages once
        rec = _read(lambda package: _fetch_deb(package, Path(cache)))
    if not rec.speech:
        raise CorpusError("no real speech recordings for audio seeds: install the Debian "
                          "packages " + " and ".join(p for p, *_ in AUDIO_SOURCES)
                          + " (scripts/setup.sh does in CI)")
    return rec


def _read(root_of: Any) -> Recordings:
    speech: list[np.ndarray] = []
    noise: list[np.ndarray] = []
    sources = []
    for package, folder, pattern, every, noise_names in AUDIO_SOURCES:
        root = root_of(package)
        if root is None or not (Path(root) / folder).is_dir():
            continue
        base = Path(root) / folder
        files = sorted(p for p in base.glob(pattern) if p.is_file())[::every]
        if not files:
            continue
        sources.append(f"Debian {package}")
        for path in files:
            try:
                clip = read_wav(path)
            except CorpusError:
                continue  # one damaged file costs only itself
            (noise if path.name in noise_names else speech).append(clip)
    return Recordings(tuple(speech), tuple(noise), tuple(sources))


def _window(clip: np.ndarray, length: int, rng: np.random.Generator,
            speech: bool) -> np.ndarray:
    if len(clip) < length:
        out = np.zeros(length, np.float32)
        start = int(rng.integers(0, length - len(clip) + 1))
        out[start:start + len(clip)] = clip
        return out
    for _ in range(10):
        start = int(rng.integers(0, len(clip) - length + 1))
        win = clip[start:start + length]
        if not speech or float(np.sqrt(np.mean(win ** 2))) >= SILENCE_RMS:
            break
    return win.astype(np.float32)


def _clips(rec: Recordings, length: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_noise = int(round(n * (1 - SPEECH_SHARE))) if rec.noise else 0
    out = np.empty((n, length), np.float32)
    for i in range(n):
        is_noise = i >= n - n_noise
        pool = rec.noise if is_noise else rec.speech
        out[i] = _window(pool[int(rng.integers(len(pool)))], length, rng, not is_noise)
    return out


def waveform_seeds(spec: Any, rec: Recordings, n: int = 100, seed: int = 0) -> Any:
    """Seeds for a float ``[batch, samples]`` waveform input (its length fixed)."""
    from modelhound.fingerprint.interface import SeedSet

    length = int(spec.shape[-1]) if spec.shape and spec.shape[-1] > 0 else RATE
    data = _clips(rec, length, n, seed)
    return SeedSet(name=f"{rec.name}: {n} windows of {length} samples at 16 kHz (seed {seed})",
                   data=data.reshape((n, *[d if d > 0 else length for d in spec.shape[1:]])),
                   is_image=False, domain="audio")


def mfcc(audio: np.ndarray, frames: int, coefficients: int) -> np.ndarray:
    """MFCC frames (n, frames, coefficients) of 1 s clips (n, 16000), by TensorFlow's
    ``AudioSpectrogram`` (40 ms windows, magnitude squared) and ``Mfcc`` ops."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    window = RATE * 40 // 1000
    stride = max(1, (audio.shape[1] - window) // max(1, frames - 1))
    out = np.zeros((len(audio), frames, coefficients), np.float32)
    for i, clip in enumerate(audio):
        spec = tf.raw_ops.AudioSpectrogram(input=tf.constant(clip[:, None]), window_size=window,
                                           stride=stride, magnitude_squared=True)
        m = tf.raw_ops.Mfcc(spectrogram=spec, sample_rate=RATE,
                            dct_coefficient_count=coefficients).numpy()[0]
        out[i, :min(frames, len(m))] = m[:frames]
    return out


def mfcc_seeds(spec: Any, rec: Recordings, n: int = 100, seed: int = 0) -> Any:
    """Seeds for an MFCC input ``[batch, frames, coefficients]`` (or flattened
    ``[batch, frames * coefficients]`` when the rank is 2: 10 coefficients assumed)."""
    from modelhound.fingerprint.interface import SeedSet

    dims = [d for d in spec.shape[1:]]
    if any(d <= 0 for d in dims) or not dims:
        raise CorpusError(f"{spec.describe()}: an MFCC input needs fixed frame and "
                          "coefficient counts")
    if len(dims) == 1:
        frames, coeffs = dims[0] // 10, 10
    else:
        frames, coeffs = int(np.prod(dims[:-1])), dims[-1]
        if dims[-1] == 1 and len(dims) >= 3:  # [frames, coeffs, 1]: an image-like layout
            frames, coeffs = int(np.prod(dims[:-2])), dims[-2]
    feats = mfcc(_clips(rec, RATE, n, seed), frames, coeffs)
    return SeedSet(name=f"{rec.name}: {n} 1 s clips as {frames}x{coeffs} MFCC "
                        f"(TensorFlow AudioSpectrogram + Mfcc, seed {seed})",
                   data=feats.reshape((n, *dims)), is_image=False, domain="audio-features")
