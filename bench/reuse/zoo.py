"""The reuse benchmark's model zoo: ModelDiff's protocol rebuilt small, offline, in Keras.

Every model is exported to TFLite the way apps ship them (float32, or quantized by the
TFLite converter) and, for float models, to ONNX by tf2onnx from that TFLite file (the
form the white-box PGD differentiates through). Names follow the reference benchmark:
``pretrain(cnn,mnist)-transfer(digits,0.5)-prune(0.8)``; the first segment is the root.

Recipes (reference: ``benchmark.py``, ``finetuner.py``, ``weight_pruner.py``; scaled down
so everything trains on 2 CPU cores; deviations are noted):

* roots ``pretrain(arch,mnist)`` and independent ``train(arch,task,seed)``: from scratch,
  Adam 1e-3, cross-entropy on logits;
* ``transfer(task,r)``: new random head, the last ``max(1, round(r * L))`` of the ``L``
  weight layers trainable, the rest frozen (reference: last r-fraction of parameter tensors);
* ``quantize(dynamic|float16|int8)``: TFLite dynamic-range int8 weights, float16 weights,
  full-integer int8 (int8 input/output, 100 representative training images). No training.
  (The reference's torch ``quantize_dynamic`` touched only Linear layers.)
* ``prune(p)``: global magnitude pruning of all conv/dense kernels (reference: conv only;
  our nets have most weights in dense layers), then fine-tuning with the zeros kept;
* ``distill()``: same-architecture random-init student, loss = CE(labels) + 5 * sum of MSE
  between student and teacher features after every hidden weight layer;
* ``steal(arch',probs|labels)``: random-init student of ``arch'`` trained on the teacher's
  training inputs, against the teacher's softmax (soft cross-entropy, T=1) or only its
  arg-max labels; no ground truth.

Models output raw logits (ModelDiff's DDV uses raw outputs).
"""

from __future__ import annotations

import json
import os
import zlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from data import load_task  # type: ignore[import-not-found]

ARCHS = ("cnn", "dwnet")
OTHER_ARCH = {"cnn": "dwnet", "dwnet": "cnn"}


@dataclass(frozen=True)
class Recipe:
    """Epoch counts (the only knob the test slice turns down)."""

    root_epochs: int = 5
    transfer_epochs: int = 4
    prune_epochs: int = 3
    distill_epochs: int = 5
    steal_epochs: int = 6
    batch: int = 64
    min_steps: int = 300
    """Every training run makes at least this many updates (epochs grow on small tasks)."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of the zoo and how it is derived."""

    name: str
    method: str
    """pretrain, train, transfer, quantize, prune, distill, steal."""
    arch: str
    task: str
    parent: str = ""
    params: tuple[tuple[str, Any], ...] = ()
    seed: int = 0

    @property
    def root(self) -> str:
        """The root segment of the name (its lineage)."""
        return self.name.split("-")[0]

    @property
    def quantized(self) -> bool:
        """Whether the model is a TFLite-quantized variant (no ONNX/gradient form)."""
        return self.method == "quantize"

    def param(self, key: str) -> Any:
        """One recipe parameter."""
        return dict(self.params)[key]


def seed_of(name: str) -> int:
    """A seed of its own for a fresh-init model, stable across runs (CRC-32 of the name)."""
    return 1000 + zlib.crc32(name.encode()) % 1_000_000


KNOCKOFF = (("same", "labels"), ("other", "labels"))
"""Thefts on the thief's own images, added to the 0.5 transfers (see the module docstring)."""


def zoo_specs(
    archs: tuple[str, ...] = ARCHS,
    tasks: tuple[str, ...] = ("digits", "parity"),
    ratios: tuple[float, ...] = (0.1, 0.5, 1.0),
    quant: tuple[str, ...] = ("dynamic", "float16", "int8"),
    prune: tuple[float, ...] = (0.2, 0.5, 0.8),
    steal: tuple[tuple[str, str], ...] = (("same", "probs"), ("same", "labels"), ("other", "probs"), ("other", "labels")),
    distill: bool = True,
    steal_ratios: tuple[float, ...] = (0.5,),
    knockoff: tuple[tuple[str, str], ...] = KNOCKOFF,
    scratch_tasks: tuple[str, ...] = ("mnist", "digits", "parity"),
    scratch_children: bool = True,
) -> list[ModelSpec]:
    """The full list of models, parents before children."""
    specs: list[ModelSpec] = []
    for arch in archs:
        root = ModelSpec(f"pretrain({arch},mnist)", "pretrain", arch, "mnist", seed=0)
        specs.append(root)
        for task in tasks:
            for r in ratios:
                t = ModelSpec(f"{root.name}-transfer({task},{r})", "transfer", arch, task, root.name, (("ratio", r),), seed=1)
                specs.append(t)
                specs.extend(_children(t, quant, prune, steal if r in steal_ratios else (), distill))
                if r in steal_ratios:
                    specs.extend(_steal(t, knockoff, knockoff=True))
    for arch in archs:
        for i, task in enumerate(scratch_tasks):
            s = ModelSpec(f"train({arch},{task},s{i + 7})", "train", arch, task, seed=i + 7)
            specs.append(s)
            if scratch_children:
                specs.extend(_children(s, (), prune[1:2], steal[:1], distill))
    return specs


def _children(
    parent: ModelSpec, quant: tuple[str, ...], prune: tuple[float, ...],
    steal: tuple[tuple[str, str], ...], distill: bool,
) -> list[ModelSpec]:
    out = []
    for q in quant:
        out.append(ModelSpec(f"{parent.name}-quantize({q})", "quantize", parent.arch, parent.task, parent.name, (("kind", q),)))
    for p in prune:
        out.append(ModelSpec(f"{parent.name}-prune({p})", "prune", parent.arch, parent.task, parent.name, (("p", p),), seed=2))
    if distill:
        name = f"{parent.name}-distill()"
        out.append(ModelSpec(name, "distill", parent.arch, parent.task, parent.name, seed=seed_of(name)))
    out.extend(_steal(parent, steal))
    return out


def _steal(parent: ModelSpec, steal: tuple[tuple[str, str], ...], knockoff: bool = False) -> list[ModelSpec]:
    out = []
    for which, signal in steal:
        arch = parent.arch if which == "same" else OTHER_ARCH[parent.arch]
        name = f"{parent.name}-steal({arch},{signal}{',knockoff' if knockoff else ''})"
        params = (("signal", signal), ("knockoff", knockoff))
        out.append(ModelSpec(name, "steal", arch, parent.task, parent.name, params, seed=seed_of(name)))
    return out


def thief_images(task: str) -> np.ndarray:
    """The knockoff thief's own images: the other dataset's training images."""
    return load_task("mnist" if task == "digits" else "digits").x_train


# --- Keras -------------------------------------------------------------------------------


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    threads = int(os.environ.get("MODELHOUND_TF_THREADS", "2"))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised
    return tf


def build_arch(arch: str, n_classes: int, seed: int) -> Any:
    """A fresh, seeded model: ``cnn`` (LeNet-like) or ``dwnet`` (MobileNet-like)."""
    _tf()
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1), name="image")
    if arch == "cnn":
        h = layers.Conv2D(8, 3, activation="relu", name="conv1")(inp)
        h = layers.MaxPooling2D()(h)
        h = layers.Conv2D(16, 3, activation="relu", name="conv2")(h)
        h = layers.MaxPooling2D()(h)
        h = layers.Flatten()(h)
        h = layers.Dense(32, activation="relu", name="fc1")(h)
    elif arch == "dwnet":
        h = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv1")(inp)
        h = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw1")(h)
        h = layers.Conv2D(16, 1, activation="relu", name="pw1")(h)
        h = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="dw2")(h)
        h = layers.Conv2D(32, 1, activation="relu", name="pw2")(h)
        h = layers.Flatten()(h)  # GAP over 32 channels trained to only ~60 % in 300 steps
    else:
        raise KeyError(arch)
    out = layers.Dense(n_classes, name="head")(h)
    return keras.Model(inp, out, name=arch)


def weight_layers(model: Any) -> list[Any]:
    """Layers with a kernel, in order."""
    return [l for l in model.layers if getattr(l, "kernel", None) is not None]


def _compile(model: Any, lr: float = 1e-3, soft: bool = False) -> None:
    import keras

    loss = (
        keras.losses.CategoricalCrossentropy(from_logits=True)
        if soft
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)


def _epochs(epochs: int, n: int, batch: int, min_steps: int) -> int:
    """At least ``min_steps`` updates, so small datasets (digits) train as long as MNIST."""
    return max(epochs, -(-min_steps * batch // n))


def _fit(model: Any, x: np.ndarray, y: np.ndarray, epochs: int, batch: int, seed: int, min_steps: int = 0) -> None:
    import keras

    keras.utils.set_random_seed(seed)
    model.fit(x, y, epochs=_epochs(epochs, len(x), batch, min_steps), batch_size=batch, verbose=0, shuffle=True)


def accuracy(model: Any, task: str) -> float:
    """Test accuracy of a Keras model on its task."""
    t = load_task(task)
    pred = model.predict(t.x_test, verbose=0, batch_size=256).argmax(axis=1)
    return float((pred == t.y_test).mean())


def train_model(spec: ModelSpec, parent: Any | None, recipe: Recipe) -> Any:
    """Train one non-quantized model (parent: the parent's Keras model)."""
    import keras

    tf = _tf()
    task = load_task(spec.task)
    if spec.method in ("pretrain", "train"):
        m = build_arch(spec.arch, task.n_classes, spec.seed)
        _compile(m)
        _fit(m, task.x_train, task.y_train, recipe.root_epochs, recipe.batch, spec.seed, recipe.min_steps)
        return m
    assert parent is not None
    if spec.method == "transfer":
        m = build_arch(spec.arch, task.n_classes, spec.seed)  # same arch, new head
        for src, dst in zip(weight_layers(parent)[:-1], weight_layers(m)[:-1]):
            dst.set_weights(src.get_weights())
        wl = weight_layers(m)
        k = max(1, round(spec.param("ratio") * len(wl)))
        for layer in wl[: len(wl) - k]:
            layer.trainable = False
        _compile(m)
        _fit(m, task.x_train, task.y_train, recipe.transfer_epochs, recipe.batch, spec.seed, recipe.min_steps)
        for layer in m.layers:
            layer.trainable = True
        return m
    if spec.method == "prune":
        m = keras.models.clone_model(parent)
        m.set_weights(parent.get_weights())
        kernels = [l.kernel for l in weight_layers(m)]
        allw = np.concatenate([np.abs(k.numpy()).ravel() for k in kernels])
        thr = np.quantile(allw, spec.param("p"))
        masks = [(np.abs(k.numpy()) > thr).astype(np.float32) for k in kernels]
        for k, mask in zip(kernels, masks):
            k.assign(k.numpy() * mask)
            k.constraint = _Mask(mask)
        _compile(m, lr=5e-4)
        _fit(m, task.x_train, task.y_train, recipe.prune_epochs, recipe.batch, spec.seed, recipe.min_steps)
        for k, mask in zip(kernels, masks):
            k.constraint = None
            assert np.all(k.numpy()[mask == 0] == 0), "pruned weights came back"
        return m
    if spec.method == "distill":
        return _distill(spec, parent, recipe, tf)
    if spec.method == "steal":
        m = build_arch(spec.arch, task.n_classes, spec.seed)
        x = thief_images(spec.task) if dict(spec.params).get("knockoff") else task.x_train
        logits = parent.predict(x, verbose=0, batch_size=256)
        if spec.param("signal") == "probs":
            z = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            _compile(m, soft=True)
            _fit(m, x, probs.astype(np.float32), recipe.steal_epochs, recipe.batch, spec.seed, recipe.min_steps)
        else:
            _compile(m)
            _fit(m, x, logits.argmax(axis=1), recipe.steal_epochs, recipe.batch, spec.seed, recipe.min_steps)
        return m
    raise KeyError(spec.method)


class _Mask:
    """A Keras variable constraint that keeps pruned weights at zero after every update."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask

    def __call__(self, w: Any) -> Any:
        return w * self.mask


def _distill(spec: ModelSpec, teacher: Any, recipe: Recipe, tf: Any) -> Any:
    import keras

    task = load_task(spec.task)
    student = build_arch(spec.arch, task.n_classes, spec.seed)
    hidden_t = [l.output for l in weight_layers(teacher)[:-1]]
    hidden_s = [l.output for l in weight_layers(student)[:-1]]
    feat_t = keras.Model(teacher.inputs, hidden_t)
    feat_s = keras.Model(student.inputs, hidden_s + [student.outputs[0]])
    opt = keras.optimizers.Adam(1e-3)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x: Any, y: Any) -> Any:
        ft = feat_t(x, training=False)
        with tf.GradientTape() as tape:
            outs = feat_s(x, training=True)
            loss = ce(y, outs[-1])
            for a, b in zip(outs[:-1], ft):
                loss += 5.0 * tf.reduce_mean(tf.square(a - b))
        grads = tape.gradient(loss, student.trainable_variables)
        opt.apply_gradients(zip(grads, student.trainable_variables))
        return loss

    rng = np.random.default_rng(spec.seed)
    for _ in range(_epochs(recipe.distill_epochs, len(task.x_train), recipe.batch, recipe.min_steps)):
        order = rng.permutation(len(task.x_train))
        for i in range(0, len(order), recipe.batch):
            idx = order[i : i + recipe.batch]
            step(tf.constant(task.x_train[idx]), tf.constant(task.y_train[idx]))
    return student


# --- export ------------------------------------------------------------------------------


def to_tflite(model: Any, quant: str | None, task: str) -> bytes:
    """TFLite bytes as an app would ship them (quant: None, dynamic, float16, int8)."""
    tf = _tf()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if quant is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if quant == "float16":
        conv.target_spec.supported_types = [tf.float16]
    elif quant == "int8":
        rep_x = load_task(task).x_train[:100]

        def rep() -> Any:
            for i in range(len(rep_x)):
                yield [rep_x[i : i + 1]]

        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def tflite_to_onnx(tflite: bytes, workdir: Path) -> bytes:
    """ONNX bytes from a float TFLite model with tf2onnx (opset 17)."""
    import tf2onnx

    path = workdir / f"_tmp_{os.getpid()}.tflite"
    path.write_bytes(tflite)
    try:
        model_proto, _ = tf2onnx.convert.from_tflite(str(path), opset=17)
    finally:
        path.unlink(missing_ok=True)
    return model_proto.SerializeToString()


@dataclass
class BuiltModel:
    """Files of one built model."""

    spec: ModelSpec
    tflite: Path
    onnx: Path | None
    accuracy: float
    seconds: float


def build_zoo(
    specs: list[ModelSpec], cache: Path, recipe: Recipe = Recipe(),
    log: Callable[[str], None] = print,
) -> dict[str, BuiltModel]:
    """Train/export every model not yet in ``cache`` (keyed by name); returns all of them."""
    import keras

    cache.mkdir(parents=True, exist_ok=True)
    keras_models: dict[str, Any] = {}
    built: dict[str, BuiltModel] = {}

    def keras_of(name: str) -> Any:
        if name not in keras_models:
            keras_models[name] = keras.models.load_model(cache / f"{_fn(name)}.keras", compile=False)
        return keras_models[name]

    for i, spec in enumerate(specs):
        base = cache / _fn(spec.name)
        meta_path = base.with_suffix(".json")
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
        else:
            t0 = time.time()
            parent = keras_of(spec.parent) if spec.parent else None
            if spec.quantized:
                tfl = to_tflite(parent, spec.param("kind"), spec.task)
                base.with_suffix(".tflite").write_bytes(tfl)
                acc = _tflite_accuracy(tfl, spec.task)
                onnx_path = None
            else:
                model = train_model(spec, parent, recipe)
                model.save(base.with_suffix(".keras"))
                keras_models[spec.name] = model
                tfl = to_tflite(model, None, spec.task)
                base.with_suffix(".tflite").write_bytes(tfl)
                base.with_suffix(".onnx").write_bytes(tflite_to_onnx(tfl, cache))
                acc = accuracy(model, spec.task)
            meta = {"name": spec.name, "accuracy": acc, "seconds": time.time() - t0}
            meta_path.write_text(json.dumps(meta))
            log(f"[{i + 1}/{len(specs)}] {spec.name}: acc {acc:.3f} ({meta['seconds']:.1f}s)")
        onnx = base.with_suffix(".onnx")
        built[spec.name] = BuiltModel(
            spec, base.with_suffix(".tflite"), onnx if onnx.exists() else None,
            float(meta["accuracy"]), float(meta["seconds"]),
        )
    return built


def _tflite_accuracy(tflite: bytes, task: str) -> float:
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.inputs import InputAdapter

    r = LiteRTRunnable(tflite)
    t = load_task(task)
    out = r.run([InputAdapter(r.inputs[0]).to_model(t.x_test)])[0]
    return float((out.argmax(axis=1) == t.y_test).mean())


def _fn(name: str) -> str:
    """A file name for a model name."""
    return name.replace("(", "_").replace(")", "").replace(",", "_").replace(".", "p")
