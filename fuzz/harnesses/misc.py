"""The recognise-only sniffers: MNN, FlatBuffer identifiers (ORT, ExecuTorch, MindSpore, ...),
Paddle, Paddle-Lite, Core ML, TNN, vendor headers, and zip container names."""

from fuzz import seeds as S

MAX_LEN = 16 * 1024


def seeds() -> list[bytes]:
    """Heads of the real MNN fixtures and of the other real models."""
    out = [d[:MAX_LEN] for d in S.fixtures_under("models/mnn", (".mnn",), 1 << 30)]
    out += [d[:4096] for d in S.fixtures_under("models/pytorch", (), 1 << 30)]
    out += [d[:4096] for d in S.fixtures_under("models/keras-h5", (), 1 << 30)]
    return out


def test_one(data: bytes) -> None:
    """Every sniffer on the head; the container matchers on names taken from the bytes."""
    from modelhound.errors import ExtractError
    from modelhound.extractor.formats import sniff, sniff_container

    for name in ("model.mnn", "x.bin"):
        try:
            sniff(data, name, len(data))
        except ExtractError:
            pass
    sniff_container(data.decode("latin-1").split("\n")[:64])
