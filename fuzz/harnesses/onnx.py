"""ONNX protobuf: sniffer, describer, tensor reader."""

from fuzz import seeds as S
from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024


def seeds() -> list[bytes]:
    """Real ONNX fixtures (small ones) and a built model."""
    from modelhound import samples

    return S.fixtures_under("models/onnx", (".onnx",), 40 * 1024) + [samples.onnx_model()]


def test_one(data: bytes) -> None:
    """Sniff, describe and read the weights of an ONNX blob."""
    blob(data, "model.onnx")
