"""PyTorch: zip archives (state dicts, TorchScript, lite interpreter), legacy pickles,
and mobile FlatBuffers."""

from __future__ import annotations

from modelhound.records import ModelFormat, ModelInfo, Sniffed

#: torch.save legacy format: pickle protocol 2, then the long magic number 0x1950a86a20f9469cfc6c
LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """Legacy pickle magic, or a mobile FlatBuffer (identifier PTMF)."""
    if head.startswith(LEGACY_MAGIC):
        return Sniffed(ModelFormat.PYTORCH, "legacy-pickle", "torch.save legacy pickle magic number")
    if len(head) >= 8 and head[4:8] == b"PTMF":
        return Sniffed(ModelFormat.PYTORCH, "mobile-flatbuffer", "FlatBuffer identifier PTMF")
    return None


def match_container(names: list[str]) -> Sniffed | None:
    """A zip whose members make it a PyTorch archive rather than a plain archive."""
    base = {n.split("/", 1)[1] if "/" in n else n for n in names}
    if "bytecode.pkl" in base:
        return Sniffed(ModelFormat.PYTORCH, "torchscript-lite", "zip with bytecode.pkl (lite interpreter)")
    if "data.pkl" in base and ("constants.pkl" in base or any(b.startswith("code/") for b in base)):
        return Sniffed(ModelFormat.PYTORCH, "torchscript", "zip with data.pkl, constants.pkl and code/")
    if "data.pkl" in base:
        return Sniffed(ModelFormat.PYTORCH, "zip", "zip with data.pkl (torch.save archive)")
    return None


def describe_container(names: list[str]) -> ModelInfo:
    """Count of tensor storages in a PyTorch zip (weights are not loaded: pickles are code)."""
    storages = [n for n in names if "/data/" in n and not n.endswith("/")]
    return ModelInfo(notes=(f"{len(storages)} tensor storages; not unpickled (untrusted code)",))
