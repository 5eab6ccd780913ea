"""The per-model result cache: a rescan reuses conversions, weights and probe runs, gives
the rows a cold scan gives, never trusts a damaged or foreign entry, and survives two
scans writing it at once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelhound import samples
from modelhound.cache import ResultCache
from modelhound.extractor import extract
from modelhound.report.rows import rows

REPO = Path(__file__).resolve().parent.parent
FACE = REPO.parent / "shared" / "fixtures" / "models" / "tflite" / "mediapipe-0.10.14" / \
    "face_detection_short_range.tflite"


# -- the store itself ------------------------------------------------------------------

def test_entries_round_trip_and_are_keyed_by_everything_they_depend_on(tmp_path: Path) -> None:
    c = ResultCache(tmp_path, tool="t1")
    key = {"model": "a" * 64, "companions": []}
    c.put("probe", key, {"note": ""}, {"ddv": np.arange(4, dtype=np.float64)}, b"blob")
    meta, arrays, blob = c.get("probe", key)
    assert meta == {"note": ""} and blob == b"blob"
    np.testing.assert_array_equal(arrays["ddv"], np.arange(4))
    assert c.get("probe", {**key, "model": "b" * 64}) is None
    assert c.get("conversion", key) is None
    assert ResultCache(tmp_path, tool="t2").get("probe", key) is None  # another toolchain
    assert c.stats.rejected == 0


def test_results_from_other_modelhound_sources_are_misses(tmp_path: Path) -> None:
    """The version number stays 0.1.0 between fixes; the toolchain also names a digest of
    modelhound's own sources, so a scan after any code change recomputes instead of
    reading rows the old code made. A copy of the package with one source file changed
    has another digest; an unchanged copy has the same one."""
    import shutil

    import modelhound
    from modelhound.cache import source_digest, toolchain

    assert f"source={source_digest()}" in toolchain()
    src = Path(modelhound.__file__).resolve().parent

    def digest_of(root: Path) -> str:
        out = subprocess.run(
            [sys.executable, "-c", "from modelhound.cache import source_digest; "
                                   "print(source_digest())"],
            env={**os.environ, "PYTHONPATH": str(root)}, cwd=root, capture_output=True,
            text=True, check=True)
        return out.stdout.strip()

    same = tmp_path / "same"
    shutil.copytree(src, same / "modelhound", ignore=shutil.ignore_patterns("__pycache__"))
    changed = tmp_path / "changed"
    shutil.copytree(src, changed / "modelhound", ignore=shutil.ignore_patterns("__pycache__"))
    with open(changed / "modelhound" / "fingerprint" / "binding.py", "a") as f:
        f.write("\n# a fix\n")
    assert digest_of(same) == source_digest()
    assert digest_of(changed) != source_digest()


def _entry_files(c: ResultCache, kind: str) -> tuple[Path, list[Path]]:
    records = list((c.base / kind).rglob("*.json"))
    assert len(records) == 1
    rec = records[0]
    return rec, [p for p in rec.parent.iterdir() if p.suffix in (".npz", ".bin")]


@pytest.mark.parametrize("damage", ["truncate-data", "flip-record", "edit-meta", "foreign",
                                    "pickled-array", "path-in-name"])
def test_damaged_or_foreign_entries_are_rejected(tmp_path: Path, damage: str) -> None:
    c = ResultCache(tmp_path, tool="t")
    key = {"model": "a" * 64, "companions": []}
    c.put("probe", key, {"note": "x"}, {"ddv": np.ones(8)})
    rec, data = _entry_files(c, "probe")
    if damage == "truncate-data":
        data[0].write_bytes(data[0].read_bytes()[:40])
    elif damage == "flip-record":
        raw = bytearray(rec.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        rec.write_bytes(bytes(raw))
    elif damage == "edit-meta":
        rec.write_text(rec.read_text().replace('"note":"x"', '"note":"y"'))
    else:
        record = json.loads(rec.read_text())
        record.pop("checksum")
        if damage == "foreign":  # a valid entry of another model, copied to this key's place
            record["key"]["model"] = "b" * 64
        elif damage == "pickled-array":
            import io

            buf = io.BytesIO()
            np.savez(buf, ddv=np.array([{"evil": 1}], dtype=object))
            sha = hashlib.sha256(buf.getvalue()).hexdigest()
            (rec.parent / f"{sha}.npz").write_bytes(buf.getvalue())
            record["files"]["npz"] = sha
        elif damage == "path-in-name":
            record["files"]["npz"] = "../../../../etc/passwd"
        record["checksum"] = hashlib.sha256(json.dumps(
            record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        rec.write_text(json.dumps(record))
    assert c.get("probe", key) is None
    assert c.stats.rejected == 1 and c.stats.problems
    c.put("probe", key, {"note": "x"}, {"ddv": np.ones(8)})  # recomputed, overwritten
    assert c.get("probe", key)[0] == {"note": "x"}


# -- scans -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four apps over three models (a real MediaPipe detector, the zoo's reference, an
    unrelated model), and a one-reference zoo."""
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_reference
    from modelhound.corpus.zoo import Zoo
    from tests.corpus.helpers import found_model

    root = tmp_path_factory.mktemp("cache-corpus")
    ref = samples.tflite_model(16, 5, seed=7)
    other = samples.tflite_model(16, 5, seed=8)
    face = FACE.read_bytes()
    apps = root / "apps"
    apps.mkdir()
    contents = {"a": [("assets/det.tflite", face), ("assets/ref.tflite", ref)],
                "b": [("assets/copy.bin", ref)], "c": [("assets/m.tflite", other)],
                "d": [("assets/face.tflite", face), ("assets/m.tflite", other)]}
    for name, entries in contents.items():
        (apps / f"{name}.apk").write_bytes(samples.apk(entries, package=f"com.example.{name}"))
    zoo = Zoo.open(root / "zoo", create=True)
    with ConverterPool(1) as pool:
        r = add_reference(zoo, found_model(ref, "ref.tflite"), pool=pool, name="ref",
                          settings=ProfileSettings(n_pairs=20, pgd_steps=2))
    assert r.runnable and r.probe_id, r.profile_note
    zoo.close()
    return apps, root / "zoo"


def _scan(apps: Path, zoo_dir: Path, cache: ResultCache | None) -> tuple[list, bool]:
    """(rows of every app, whether a conversion worker was started)."""
    from modelhound.analysis import Analyzer
    from modelhound.corpus.match import Matcher
    from modelhound.corpus.zoo import Zoo

    out = []
    with Analyzer(matcher=Matcher(Zoo.open(zoo_dir)), cache=cache) as analyzer:
        for apk in sorted(apps.glob("*.apk")):
            x = extract(str(apk))
            from dataclasses import replace

            out.extend(rows(replace(x.to_scan(), analysis=analyzer.analyse(x))))
        started = analyzer._pool is not None
    return out, started


@pytest.fixture(scope="module")
def cold(corpus) -> list:
    """The rows of a scan without a cache."""
    return _scan(*corpus, None)[0]


@pytest.mark.slow
def test_rescan_reuses_everything_and_gives_the_cold_rows(corpus, cold, tmp_path: Path) -> None:
    apps, zoo_dir = corpus
    by_entry = {(r["apk"].rsplit("/", 1)[-1], r["entry"]): r for r in cold}
    assert by_entry[("b.apk", "assets/copy.bin")]["match"] == "ref"
    assert by_entry[("a.apk", "assets/det.tflite")]["runnable"] == "yes"

    cache = ResultCache(tmp_path / "cache")
    first, started = _scan(apps, zoo_dir, cache)
    assert started and first == cold
    assert cache.stats.hits == 0 and cache.stats.writes > 0

    again = ResultCache(tmp_path / "cache")
    second, started = _scan(apps, zoo_dir, again)
    assert second == cold
    assert not started  # no conversion and no inference: the worker never ran
    analyses = sorted((tmp_path / "cache").rglob("analysis/*/*.json"))
    assert len(analyses) == 3  # one finished analysis per unique model
    # against an unchanged zoo each model costs one read: its finished analysis
    assert again.stats.misses == 0 and again.stats.hits == len(analyses)

    # Damage: flipped finished analyses (so the stages' own records are read), foreign and
    # flipped conversion records, flipped evidence records (so every model is compared
    # again, reading its weights and probe runs) and a truncated array file. Each is
    # detected and recomputed; the rows stay the cold ones.
    convs = sorted((tmp_path / "cache").rglob("native/*/*.json"))
    assert len(convs) == 3  # TFLite models run natively: no ONNX form built
    convs[0].write_bytes(convs[1].read_bytes())
    for rec in [*analyses, convs[2], *(tmp_path / "cache").rglob("signals/*/*.json")]:
        raw = bytearray(rec.read_bytes())
        raw[10] ^= 0x20
        rec.write_bytes(bytes(raw))
    npz = next((tmp_path / "cache").rglob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:100])
    damaged = ResultCache(tmp_path / "cache")
    third, started = _scan(apps, zoo_dir, damaged)
    assert third == cold
    # analyses, conversions, evidence, npz
    assert started and damaged.stats.rejected == 3 + 2 + 3 + 1
    healed = ResultCache(tmp_path / "cache")
    assert _scan(apps, zoo_dir, healed) == (cold, False)
    assert healed.stats.rejected == 0


@pytest.mark.slow
def test_two_concurrent_scans_sharing_a_cache_lose_nothing(corpus, cold, tmp_path: Path) -> None:
    apps, zoo_dir = corpus
    cache_dir = tmp_path / "shared-cache"
    cmd = [sys.executable, "-m", "modelhound", "scan", str(apps), "--zoo", str(zoo_dir),
           "--cache", str(cache_dir)]
    procs = [subprocess.Popen(cmd + ["--json", str(tmp_path / f"r{i}.json"),
                                     "--db", str(tmp_path / f"r{i}.db")],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    reports = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(2)]

    def verdicts(report: dict) -> list:
        return sorted((r["entry"], r.get("match"), r.get("verdict"), r.get("runnable"))
                      for r in report["rows"])

    assert verdicts(reports[0]) == verdicts(reports[1])
    warm = ResultCache(cache_dir)
    rows_warm, started = _scan(apps, zoo_dir, warm)
    assert rows_warm == cold and not started
    assert warm.stats.rejected == 0 and warm.stats.misses == 0
