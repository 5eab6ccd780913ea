"""TensorFlow GraphDef protobuf: sniffer, describer, tensor reader."""

from fuzz import seeds as S
from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024


def seeds() -> list[bytes]:
    """The real frozen graph fixture and a built one."""
    from modelhound import samples

    return S.fixtures_under("models/tf-pb", (".pb",)) + [samples.tf_graphdef()]


def test_one(data: bytes) -> None:
    """Sniff, describe and read the weights of a GraphDef blob."""
    blob(data, "frozen_graph.pb")
