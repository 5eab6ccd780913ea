"""Frozen records that cross stage boundaries.

Everything that flows from the extractor to the converters, the fingerprint and the
reports is one of these types. They carry no behaviour beyond small derived views, and
they never import a heavy runtime, so every stage (and every test) can use them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

#: Version of the row/JSON layout written by the reports. Bump it when a column changes.
REPORT_SCHEMA_VERSION = 2


class ModelFormat(str, enum.Enum):
    """Model file formats modelhound recognises by content."""

    TFLITE = "tflite"
    ONNX = "onnx"
    CAFFE = "caffe"
    TF_GRAPHDEF = "tf-graphdef"
    TF_SAVED_MODEL = "tf-savedmodel"
    NCNN = "ncnn"
    MNN = "mnn"
    PYTORCH = "pytorch"
    KERAS_H5 = "keras-h5"
    PADDLE = "paddle"
    PADDLE_LITE = "paddle-lite"
    SNPE_DLC = "snpe-dlc"
    ORT = "onnxruntime-ort"
    MINDSPORE_LITE = "mindspore-lite"
    TNN = "tnn"
    COREML = "coreml"
    EXECUTORCH = "executorch"
    HUAWEI_OM = "huawei-om"
    RKNN = "rknn"
    TFJS = "tfjs"
    UNKNOWN = "unknown"

    @property
    def runnable(self) -> bool:
        """Whether the converters stage can bring this format to a runnable form."""
        return self in RUNNABLE_FORMATS


RUNNABLE_FORMATS = frozenset(
    {ModelFormat.TFLITE, ModelFormat.ONNX, ModelFormat.CAFFE, ModelFormat.TF_GRAPHDEF,
     # in their own runtimes (modelhound.runtimes)
     ModelFormat.NCNN, ModelFormat.MNN, ModelFormat.PYTORCH, ModelFormat.ORT,
     ModelFormat.KERAS_H5, ModelFormat.TFJS,
     # frozen from its serving signature, then as a TF GraphDef (modelhound.converters.savedmodel)
     ModelFormat.TF_SAVED_MODEL,
     # Paddle inference models through paddle2onnx's C++ core (modelhound.converters.paddle)
     ModelFormat.PADDLE}
)


class Status(str, enum.Enum):
    """Outcome of one report row."""

    OK = "ok"
    """A model was recognised and described."""
    SUSPECTED_ENCRYPTED = "suspected-encrypted"
    """High-entropy blob where models live, with no known signature."""
    UNREADABLE = "unreadable"
    """Recognised as a model (or a zip entry that may hold one) but could not be read."""
    NO_MODEL = "no-model"
    """The app was read completely and holds no model."""
    ERROR = "error"
    """The input itself could not be read."""
    DUPLICATE = "duplicate"
    """The input is byte-identical to one scanned earlier in the same run."""


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of a tensor: real = scale * (q - zero_point)."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output as the model declares it."""

    name: str
    shape: tuple[int, ...]
    """Dimensions; -1 marks a dynamic one."""
    dtype: str
    """numpy dtype name (float32, uint8, int8, float16, int64, ...)."""
    quantization: Quantization | None = None
    layout: str | None = None
    """NHWC, NCHW; "audio" for a waveform a runtime knows is one; None when unknown."""

    def describe(self) -> str:
        """Compact text form: ``name:1x28x28x1:float32``."""
        dims = "x".join("?" if d < 0 else str(d) for d in self.shape) or "scalar"
        text = f"{self.name}:{dims}:{self.dtype}"
        if self.quantization is not None and self.quantization.scale:
            text += f"[q s={self.quantization.scale[0]:.4g} z={self.quantization.zero_point[0]}]"
        return text


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, read from its file without running it."""

    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    op_count: int | None = None
    op_types: tuple[tuple[str, int], ...] = ()
    """(op type, count), sorted by type name."""
    param_count: int | None = None
    """Number of weight values (elements of constant tensors)."""
    weight_dtypes: tuple[str, ...] = ()
    """Distinct dtypes of the weight tensors, sorted (float32, int8, float16, ...)."""
    producer: str = ""
    version: str = ""
    notes: tuple[str, ...] = ()

    @property
    def quantization(self) -> str:
        """A short label for how the weights are stored (float32, int8, float16, mixed)."""
        kinds = set(self.weight_dtypes) - {"int32", "int64"}
        if not kinds:
            return ""
        if kinds == {"float32"}:
            return "float32"
        if "int8" in kinds or "uint8" in kinds:
            act = {t.dtype for t in self.inputs}
            return "int8" if act & {"int8", "uint8"} else "int8-weights"
        if "float16" in kinds:
            return "float16"
        return "+".join(sorted(kinds))


@dataclass(frozen=True)
class Sniffed:
    """A sniffer's verdict on a blob: which format, and why."""

    format: ModelFormat
    subformat: str
    evidence: str


@dataclass(frozen=True)
class ModelEntry:
    """One model (or suspected model) found inside an app."""

    entry: str
    """Path inside the app; nested archives joined with ``!/``."""
    format: ModelFormat
    subformat: str
    sha256: str
    size: int
    status: Status
    reason: str = ""
    evidence: str = ""
    info: ModelInfo | None = None
    companions: tuple[str, ...] = ()
    """Other entries that belong to this model (Caffe prototxt, ncnn weights)."""


@dataclass(frozen=True)
class FoundModel:
    """A model entry with its bytes, as the extractor hands it to later stages."""

    entry: ModelEntry
    data: bytes = field(repr=False)
    companions: Mapping[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class AppInfo:
    """One input file (APK, bundle, zip or bare model) and its metadata."""

    path: str
    sha256: str
    size: int
    kind: str = ""
    """apk, xapk, apks, apkm, aab, zip, obb, file."""
    package: str = ""
    version_name: str = ""
    version_code: str = ""
    label: str = ""
    min_sdk: str = ""
    target_sdk: str = ""
    runtimes: tuple[str, ...] = ()
    """ML runtimes evidenced by bundled native libraries, sorted."""
    runtime_evidence: tuple[str, ...] = ()
    """The library entries behind ``runtimes``."""
    splits: tuple[str, ...] = ()
    """Nested APKs read (split APKs of a bundle)."""
    problems: tuple[str, ...] = ()
    """Non-fatal problems met while reading (broken manifest, recovered zip, limits hit)."""


@dataclass(frozen=True)
class ModelAnalysis:
    """What the later stages learned about one model entry (conversion, then matching)."""

    runnable: bool | None = None
    """None when conversion was not attempted."""
    runtime: str = ""
    conversion_rel_error: float | None = None
    fidelity_reference: str = ""
    """What ``conversion_rel_error`` was measured against when that is not the model's own
    ONNX form: an original of the same network in the same app (ncnn, MNN)."""
    not_runnable_reason: str = ""
    conversion_note: str = ""
    matched: bool = False
    """Whether matching against a zoo ran for this model."""
    match: str = ""
    """Name of the best-supported reference ('' when none)."""
    verdict: str = ""
    reuse_type: str = ""
    confidence: float | None = None
    similarity: float | None = None
    """ModelDiff similarity to the matched reference, when both could be run."""
    weight_similarity: float | None = None
    agreement: float | None = None
    """Behavioural agreement with the matched (or closest) reference on its behaviour probes."""
    structure: float | None = None
    """Architecture similarity (weight shapes) to that reference; evidence only."""
    match_evidence: str = ""
    detail: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    """The evidence as data for reports that draw it (per-reference signals, DDVs,
    per-tensor weight matches): :meth:`modelhound.corpus.match.Matcher.detail`."""


@dataclass(frozen=True)
class AppScan:
    """Everything the extractor learned about one input, without the model bytes."""

    app: AppInfo
    models: tuple[ModelEntry, ...] = ()
    error: str = ""
    """Set when the input could not be read at all."""
    duplicate_of: str = ""
    """Path of an identical input (same sha256) scanned earlier in this run."""
    analysis: tuple[tuple[str, ModelAnalysis], ...] = ()
    """(model entry path, analysis) for the entries later stages looked at."""

    @property
    def status(self) -> Status:
        """Status of the app as a whole."""
        if self.error:
            return Status.ERROR
        if self.duplicate_of:
            return Status.DUPLICATE
        return Status.OK if self.models else Status.NO_MODEL
