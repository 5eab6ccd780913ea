"""Caffe, binary caffemodel and text prototxt: sniffer, parser, describer, tensor reader."""

from fuzz import seeds as S
from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024


def seeds() -> list[bytes]:
    """Real prototxt and caffemodel fixtures, and a built pair."""
    from modelhound import samples

    return (S.fixtures_under("models/caffe", (".prototxt",)) +
            S.fixtures_under("models/caffe", (".caffemodel",), 32 * 1024) +
            [samples.CAFFE_PROTOTXT.encode(), samples.caffe_model()])


def test_one(data: bytes) -> None:
    """The first byte picks the name the blob has (names are hints only)."""
    name = ("deploy.prototxt", "net.caffemodel", "model.bin")[data[0] % 3] if data else "x"
    blob(data[1:], name)
