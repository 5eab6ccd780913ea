"""A zoo index that is corrupt, newer or not ours is refused and left as it is; a reference
whose files were deleted or altered is found by hash and skipped with a warning."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from modelhound import samples
from modelhound.cli import main
from modelhound.corpus.zoo import Zoo
from modelhound.errors import CorpusError
from tests.conftest import fixture_path

MNIST = ("models", "tflite", "qiulongquan-codelab-mnist.tflite")
ONNX = ("models", "onnx", "mnist-8.onnx")


class _Err(str):
    """stderr whose ``in`` ignores whitespace (rich wraps long lines anywhere)."""

    def __contains__(self, part: object) -> bool:
        return "".join(str(part).split()) in "".join(str(self).split())


def _err(capsys) -> str:
    return _Err(capsys.readouterr().err)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    """Two real references, weights only."""
    path = tmp_path_factory.mktemp("zoo") / "zoo"
    assert main(["zoo", "add", str(fixture_path(*MNIST)), str(fixture_path(*ONNX)),
                 "--zoo", str(path), "--no-profile"]) == 0
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("app")
    (folder / "copy.apk").write_bytes(samples.apk(
        [("assets/digits.bin", fixture_path(*MNIST).read_bytes())], package="com.t.copy"))
    return folder


def _scan(app: Path, zoo: Path, tmp_path: Path) -> dict[str, str]:
    out = tmp_path / "f.csv"
    assert main(["scan", str(app), "--zoo", str(zoo), "--csv", str(out), "--db",
                 str(tmp_path / "r.db"), "--replace-db", "--no-table"]) == 0
    [row] = list(csv.DictReader(out.open()))
    return row


def test_references_carry_the_hashes_of_their_files(zoo_dir):
    zoo = Zoo.open(zoo_dir)
    try:
        for ref in zoo.references():
            assert ref.files[0] in dict(ref.hashes) and zoo.verify(ref) == ""
            assert dict(ref.hashes)[ref.files[0]] == ref.sha256
    finally:
        zoo.close()


@pytest.mark.parametrize("damage", ["altered", "deleted"])
def test_a_reference_whose_file_changed_is_skipped_with_a_warning(zoo_dir, app, tmp_path, capsys,
                                                                   damage):
    row = _scan(app, zoo_dir, tmp_path)
    name = row["match"]
    assert row["verdict"] == "reused" and name.startswith("qiulongquan")
    capsys.readouterr()
    copy = tmp_path / "zoo"
    shutil.copytree(zoo_dir, copy)
    model = next((copy / "refs" / name).glob("model.tflite"))
    if damage == "altered":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    else:
        model.unlink()
    row = _scan(app, copy, tmp_path)
    err = _err(capsys)
    assert f"reference {name} skipped" in err
    assert ("altered since it was stored" if damage == "altered" else "No such file") in err
    assert row["match"] != name and row["verdict"] != "reused"


@pytest.mark.parametrize("damage", ["text", "foreign-sqlite", "garbled", "newer"])
def test_a_bad_zoo_index_is_refused_and_left_as_it_is(zoo_dir, app, tmp_path, capsys, damage):
    copy = tmp_path / "zoo"
    shutil.copytree(zoo_dir, copy)
    index = copy / "zoo.sqlite"
    if damage == "text":
        index.write_text("these are my notes\n" * 20)
    elif damage == "foreign-sqlite":
        index.unlink()
        with sqlite3.connect(index) as db:
            db.execute("CREATE TABLE t (x)")
        db.close()
    elif damage == "garbled":
        data = index.read_bytes()
        index.write_bytes(data[:100] + bytes(b ^ 0x33 for b in data[100:]))
    else:
        with sqlite3.connect(index) as db:
            db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        db.close()
    before = _sha(index)
    with pytest.raises(CorpusError, match=str(copy)):
        Zoo.open(copy, create=True)
    for argv in (["scan", str(app), "--zoo", str(copy), "--db", str(tmp_path / "r.db"),
                  "--no-table"],
                 ["zoo", "add", str(fixture_path(*ONNX)), "--zoo", str(copy), "--no-profile"],
                 ["zoo", "list", "--zoo", str(copy)]):
        assert main(argv) == 1
        err = _err(capsys)
        assert str(copy) in err and "Traceback" not in err
        assert _sha(index) == before and os.listdir(copy / "refs")
