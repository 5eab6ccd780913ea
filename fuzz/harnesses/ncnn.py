"""ncnn text param and its weight blob: sniffer, parser, describer, tensor reader.

Input layout: 2 bytes little-endian param length, the param, then the weight blob."""

from fuzz import seeds as S
from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024


def _pack(param: bytes, weights: bytes) -> bytes:
    return len(param).to_bytes(2, "little") + param + weights


def seeds() -> list[bytes]:
    """Real param/bin pairs (weights cut to 16 KiB), params alone, a built pair."""
    from modelhound import samples

    out = [_pack(S.fixture("models", "ncnn", "mtcnn-det1.param"),
                 S.fixture("models", "ncnn", "mtcnn-det1.bin")[:16384]),
           _pack(samples.NCNN_PARAM.encode(), samples.ncnn_weights())]
    out += [_pack(p, b"") for p in S.fixtures_under("models/ncnn", (".param",), 16 * 1024)]
    return out


def test_one(data: bytes) -> None:
    """Read the param with its weights as the scan pairs them."""
    n = int.from_bytes(data[:2], "little")
    param, weights = data[2:2 + n], data[2 + n:]
    blob(param, "model.param", {"model.bin": weights} if weights else None)
