"""Companions a model names by path (tfjs weight shards, a SavedModel's variables): found
among the files of the same input that no sniffer claimed, read, and handed to the model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from modelhound.errors import ExtractError
from modelhound.extractor.archive import Member, read_all
from modelhound.records import ModelInfo, Sniffed


def attach_named(walk: Any, items: list[tuple[Member, bytes, Sniffed]], what: str,
                 wanted: Callable[[str, bytes, list[str]], list[str]],
                 describe: Callable[[bytes, dict[str, bytes]], ModelInfo]) -> None:
    """Attach to each model of ``items`` the files it names by path (``wanted``: from the
    model's entry, bytes and the unclaimed paths of ``walk``, an extractor walk), then
    describe it with them and record it in ``walk``; the files taken leave its unknowns."""
    taken: set[int] = set()
    for member, data, sniffed in items:
        try:
            paths = wanted(member.path, data, [u.member.path for u in walk.unknowns])
        except ExtractError as e:
            walk.unreadable(member, str(e), sniffed.format, sniffed.subformat, sniffed.evidence)
            continue
        companions: dict[str, bytes] = {}
        missing = []
        for path in paths:
            pick = next((i for i, u in enumerate(walk.unknowns)
                         if i not in taken and u.member.path == path), None)
            if pick is None:
                missing.append(path)
                continue
            taken.add(pick)
            try:
                companions[path] = read_all(walk.unknowns[pick].member, walk.budget)
            except ExtractError as e:
                missing.append(f"{path} ({e})")
        try:
            info = describe(data, companions)
        except ExtractError as e:
            walk.unreadable(member, str(e), sniffed.format, sniffed.subformat, sniffed.evidence)
            continue
        reason = ""
        if missing:
            reason = f"{what} missing: {', '.join(missing[:4])}" + (
                f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        elif not paths:
            reason = f"topology only: names no {what}"
        if companions:
            sniffed = replace(sniffed, evidence=f"{sniffed.evidence}; {len(companions)} "
                                                f"{what} files beside it")
        walk.found(member, data, sniffed, info, companions, reason)
    walk.unknowns = [u for i, u in enumerate(walk.unknowns) if i not in taken]
