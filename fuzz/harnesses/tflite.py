"""TFLite flatbuffer: sniffer, describer, tensor reader (with dequantization)."""

from fuzz import seeds as S
from fuzz.harnesses._model import blob

MAX_LEN = 128 * 1024


def seeds() -> list[bytes]:
    """Real TFLite fixtures (small ones) and built models."""
    from modelhound import samples

    return S.fixtures_under("models/tflite", (".tflite",), 128 * 1024) + [
        samples.tflite_model(seed=1), samples.tflite_model(n_in=8, n_out=2, seed=2)]


def test_one(data: bytes) -> None:
    """Sniff, describe and read the weights of a TFLite blob."""
    blob(data, "model.tflite")
