"""PyTorch: zip / TorchScript archives and legacy pickles through the safe unpickler (the
tensor reader), plus the sniffer."""

from fuzz import seeds as S
from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024


def _legacy() -> bytes:
    """A legacy (non-zip) torch.save file, written the way torch 1.x wrote it."""
    import io
    import pickle
    import struct

    f = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001,
                                                "little_endian": True}):
        pickle.dump(obj, f, protocol=2)
    # a state dict of one tensor: torch._utils._rebuild_tensor_v2(storage, 0, (8, 8), (8, 1))
    body = (b"\x80\x02}q\x00X\x06\x00\x00\x00weightq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02"
            b"((X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05"
            b"X\x03\x00\x00\x00cpuq\x06K@tq\x07QK\x00K\x08K\x08\x86q\x08K\x08K\x01\x86q\t\x89"
            b"ccollections\nOrderedDict\nq\n)Rq\x0btq\x0cRq\rs.")
    f.write(body)
    pickle.dump(["0"], f, protocol=2)
    f.write(struct.pack("<q", 64) + bytes(range(64)) * 4)
    return f.getvalue()


def seeds() -> list[bytes]:
    """The real small TorchScript fixture and a legacy pickle."""
    return S.fixtures_under("models/pytorch", (".pt",), 32 * 1024) + [_legacy()]


def test_one(data: bytes) -> None:
    """Sniff and read the weights of a PyTorch file."""
    blob(data, "model.pt")
