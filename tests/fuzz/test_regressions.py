"""Each fuzzing finding, fixed at its root: the minimised input (fuzz/regressions) ends in
the project's own error, with the reason a user reads, instead of a foreign exception."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelhound import samples
from modelhound.errors import ExtractError
from modelhound.extractor import extract
from modelhound.extractor.formats import describe, sniff
from modelhound.extractor.tensors import MAX_PICKLE_MEMO, _LazyTensor, _materialize, _StorageRef
from modelhound.extractor.tensors import read_tensors
from modelhound.records import ModelFormat, Status

REG = Path(__file__).resolve().parent.parent.parent / "fuzz" / "regressions"


def _read(fmt: ModelFormat, sub: str, data: bytes) -> str:
    with pytest.raises(ExtractError) as e:
        read_tensors(fmt, sub, data)
    return str(e.value)


@pytest.mark.parametrize("name,fmt,sub,reason", [
    ("onnx/protobuf-decode-error", ModelFormat.ONNX, "", "DecodeError"),
    ("graphdef/protobuf-decode-error", ModelFormat.TF_GRAPHDEF, "", "DecodeError"),
    ("keras/truncated-superblock", ModelFormat.KERAS_H5, "hdf5", "not a readable HDF5 file"),
    ("keras/link-message-missing", ModelFormat.KERAS_H5, "hdf5", "not a readable HDF5 file"),
    ("keras/offset-overflow", ModelFormat.KERAS_H5, "hdf5", "not a readable HDF5 file"),
    ("pytorch/huge-memo-index", ModelFormat.PYTORCH, "legacy-pickle", "memo index"),
    ("pytorch/memo-index-hang", ModelFormat.PYTORCH, "legacy-pickle", "memo index"),
    ("pytorch/build-on-int", ModelFormat.PYTORCH, "legacy-pickle", "cannot read pytorch weights"),
])
def test_weight_readers_refuse_malformed_files_with_their_own_error(name, fmt, sub, reason):
    data = (REG / name).read_bytes()
    assert reason in _read(fmt, sub, data)


@pytest.mark.parametrize("name", ["onnx/name-not-utf8", "graphdef/op-not-utf8"])
def test_names_that_are_not_utf8_are_described_as_text(name):
    data = (REG / name).read_bytes()
    s = sniff(data, "model.bin", len(data))
    assert s is not None
    info = describe(s, data)
    for value in [*(t for t, _ in info.op_types), *(t.name for t in info.inputs + info.outputs)]:
        assert isinstance(value, str)


def test_a_caffemodel_whose_layer_type_is_not_utf8_is_described_as_text():
    # fuzz finding (archive campaign): proto2 hands back bytes for a layer type that is not
    # UTF-8; sorting the op types mixed bytes and str (TypeError) when a Caffe pair was described
    from modelhound.extractor.formats import caffe

    info = caffe.describe((REG / "caffe" / "layer-type-not-utf8").read_bytes(), "caffemodel")
    assert [t for t, _ in info.op_types] == ["Convoluti\ufffd\ufffd", "InnerProduct"]


def test_a_pickle_whose_opcodes_misuse_objects_is_a_malformed_pickle():
    header = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {}))
    build_on_int = b"\x80\x02K\x01}b."  # BUILD: set the state of the int 1
    assert "malformed pickle" in _read(ModelFormat.PYTORCH, "legacy-pickle",
                                       header + build_on_int)


def test_a_legacy_pickle_naming_a_huge_memo_slot_is_refused_before_unpickling():
    body = pickle.dumps(1, protocol=2)[:-1]  # a LONG_BINPUT past the bound, then STOP
    hostile = body[:2] + b"r" + struct.pack("<I", MAX_PICKLE_MEMO + 1) + body[2:] + b"."
    header = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {}))
    assert "memo index" in _read(ModelFormat.PYTORCH, "legacy-pickle", header + hostile)


@pytest.mark.parametrize("offset,size,stride", [
    (0, (4, 4), (-4, 1)),            # negative stride: would read before the buffer
    (-8, (2,), (1,)),                # negative offset
    (0, (1 << 62, 2), (1, 1)),       # overflowing size
    (0, (2, 2), (2,)),               # rank mismatch
])
def test_a_pytorch_tensor_whose_view_leaves_its_storage_is_refused(offset, size, stride):
    raw = np.arange(16, dtype=np.float32).tobytes()
    t = _LazyTensor(_StorageRef("0", np.float32, 16), offset, size, stride)
    with pytest.raises(ExtractError, match="invalid offset, size or stride"):
        _materialize("w", t, raw)


def test_a_legacy_storage_claiming_more_than_the_file_holds_is_truncated_not_allocated():
    from fuzz.harnesses.pytorch import _legacy

    data = _legacy()
    i = data.rindex(struct.pack("<q", 64))
    hostile = data[:i] + struct.pack("<q", 1 << 61) + data[i + 8:]
    assert "truncated" in _read(ModelFormat.PYTORCH, "legacy-pickle", hostile)


def test_a_damaged_tar_member_is_an_unreadable_row_not_an_internal_error(tmp_path):
    path = tmp_path / "models.tar.gz"
    path.write_bytes((REG / "archive" / "tar-member-truncated").read_bytes()[1:])
    result = extract(str(path))
    reasons = [r.reason for r in result.others] + [m.entry.reason for m in result.models]
    assert not any("internal error" in r for r in reasons)
    assert result.error or any("tar" in r for r in reasons)


def _one_model_apk() -> bytearray:
    """The bytes of an app holding one small TFLite model, ``assets/m.tflite``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("assets/m.tflite", samples.tflite_model(seed=3))
    return bytearray(buf.getvalue())


def _the_one_model_is_found(path) -> None:
    result = extract(str(path))
    [model] = result.models
    assert (model.entry.entry, model.entry.format, model.entry.status) == (
        "assets/m.tflite", ModelFormat.TFLITE, Status.OK)
    assert not any("internal error" in r.reason for r in result.others)


def test_a_zip_entry_whose_local_name_is_not_utf8_is_read_by_offset_as_android_does(tmp_path):
    data = _one_model_apk()
    # the local header keeps the name bytes but says UTF-8 (flag bit 11) over invalid bytes
    data[6:8] = struct.pack("<H", struct.unpack_from("<H", data, 6)[0] | 0x800)
    data[30:32] = b"\xff\xfe"
    path = tmp_path / "app.apk"
    path.write_bytes(bytes(data))
    _the_one_model_is_found(path)


@pytest.mark.parametrize("damage", [b"{not json", b"\xff\xfe not utf-8", b"[1, 2]"])
def test_a_results_database_with_a_damaged_record_is_refused_naming_it(tmp_path, damage):
    import sqlite3

    from modelhound.errors import StoreError
    from modelhound.store import ResultStore

    db = tmp_path / "r.db"
    store = ResultStore(str(db))
    store.record({"path": "a.apk", "sha256": "ab", "status": "no-model"}, [{"apk": "a.apk"}])
    store.close()
    with sqlite3.connect(db) as c:
        c.execute("UPDATE rows SET row_json = CAST(? AS TEXT)", (damage,))
    c.close()
    store = ResultStore(str(db), readonly=True)
    try:
        with pytest.raises(StoreError, match=f"^{db}: the results database"):
            store.rows()
    finally:
        store.close()


@pytest.mark.parametrize("record", ['{"name": "x"', '{"name": "x", "files": ["../../etc/passwd"]}',
                                    '{"name": "x", "files": []}', '"text"'])
def test_a_zoo_index_with_a_damaged_or_escaping_record_is_refused_naming_the_zoo(tmp_path, record):
    import sqlite3

    from modelhound.corpus.zoo import Zoo
    from modelhound.errors import CorpusError

    zoo = Zoo.open(tmp_path / "zoo", create=True)
    zoo.close()
    with sqlite3.connect(tmp_path / "zoo" / "zoo.sqlite") as c:
        c.execute("INSERT INTO refs VALUES ('x', 'ab', ?)", (record,))
    c.close()
    zoo = Zoo.open(tmp_path / "zoo")
    try:
        with pytest.raises(CorpusError, match=f"^{tmp_path / 'zoo'}: the zoo index holds a damaged"):
            zoo.references()
    finally:
        zoo.close()


def test_a_database_refused_after_opening_is_left_byte_for_byte(tmp_path):
    """Fuzzing found a damaged database (runs.run no longer unique) refused with the file
    changed: switching to WAL had rewritten its header before the refusal. A rollback-journal
    database whose new run cannot be added now stays exactly as it was."""
    import hashlib
    import sqlite3

    from modelhound.errors import StoreError
    from modelhound.store import ResultStore

    db = tmp_path / "r.db"
    ResultStore(str(db)).close()
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("CREATE TRIGGER damaged BEFORE INSERT ON runs BEGIN "
                  "SELECT RAISE(ABORT, 'damaged'); END")
    c.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(StoreError, match=f"^{db}: cannot write the results database"):
        ResultStore(str(db))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_zoo_reference_naming_a_file_outside_its_hashes_is_verified_too(tmp_path):
    """Fuzzing found a zoo record whose model file name no longer matched its hash list:
    verification passed on the hashed files and loading the weights raised
    FileNotFoundError. Every file a reference is read from is now checked."""
    import sqlite3

    from modelhound.corpus.match import Matcher
    from modelhound.corpus.zoo import Reference, Zoo

    data = samples.tflite_model(seed=5)
    zoo = Zoo.open(tmp_path / "zoo", create=True)
    (tmp_path / "zoo" / "refs" / "m").mkdir(parents=True)
    (tmp_path / "zoo" / "refs" / "m" / "model.tflite").write_bytes(data)
    import hashlib

    zoo.insert(Reference(name="m", format="tflite", subformat="flatbuffer",
                         sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                         files=("refs/m/model.tflite",)))
    zoo.close()
    with sqlite3.connect(tmp_path / "zoo" / "zoo.sqlite") as c:
        (record,) = c.execute("SELECT record FROM refs").fetchone()
        c.execute("UPDATE refs SET record = ?",
                  (record.replace('"files": ["refs/m/model.tflite"]',
                                  '"files": ["refs/m-model.tflite"]'),))
    c.close()
    zoo = Zoo.open(tmp_path / "zoo")
    try:
        matcher = Matcher(zoo)
        assert matcher.refs == []
        assert matcher.warnings == [
            f"{tmp_path / 'zoo'}: reference m skipped: refs/m-model.tflite: No such file or directory"]
    finally:
        zoo.close()


def test_a_zoo_index_whose_tables_were_altered_is_a_corpus_error(tmp_path):
    """Fuzzing found a zoo index whose tensor_keys table lost a column: the weight lookup
    raised sqlite3.OperationalError out of the matcher."""
    import sqlite3

    from modelhound.corpus.zoo import Zoo
    from modelhound.errors import CorpusError

    Zoo.open(tmp_path / "zoo", create=True).close()
    with sqlite3.connect(tmp_path / "zoo" / "zoo.sqlite") as c:
        c.execute("DROP TABLE tensor_keys")
        c.execute("CREATE TABLE tensor_keys (other TEXT)")
    c.close()
    zoo = Zoo.open(tmp_path / "zoo")
    try:
        with pytest.raises(CorpusError, match=f"^{tmp_path / 'zoo'}: the zoo index is damaged"):
            zoo.by_tensor_keys(["k"])
    finally:
        zoo.close()


def test_a_zip_entry_with_an_empty_name_is_skipped_and_said_not_an_internal_error(tmp_path):
    # fuzz finding (archive): zipfile's ZipInfo.is_dir() raised IndexError on an empty name
    tfl = samples.tflite_model(seed=3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("assets/m.tflite", tfl)
        z.writestr(zipfile.ZipInfo(""), b"nameless")
    path = tmp_path / "app.apk"
    path.write_bytes(buf.getvalue())
    result = extract(str(path))
    [model] = result.models
    assert (model.entry.entry, model.entry.format, model.entry.status) == (
        "assets/m.tflite", ModelFormat.TFLITE, Status.OK)
    assert any("empty name" in p for p in result.app.problems)
    reasons = [r.reason for r in result.others]
    assert not any("internal error" in r for r in reasons)


def test_a_zip_directory_asking_for_an_unknown_zip_version_is_read_as_android_does(tmp_path):
    # fuzz finding (archive): zipfile raised NotImplementedError ("zip file version 17.6")
    data = _one_model_apk()
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 6:cd + 8] = struct.pack("<H", 176)  # "version needed to extract": 17.6
    path = tmp_path / "app.apk"
    path.write_bytes(bytes(data))
    _the_one_model_is_found(path)


def test_an_app_whose_resource_table_makes_androguard_print_keeps_the_terminal_clean(
        tmp_path, capsys):
    # fuzz finding (arsc): androguard's ARSCParser print()s "We are out of bound with this
    # complex entry" to sys.stdout, which in a scan is the user's terminal
    from tests.conftest import fixture_path

    hostile = (REG / "arsc" / "androguard-prints-complex-entry").read_bytes()
    assert struct.unpack_from("<I", hostile)[0] == 0x7F050000  # the app's label id
    with zipfile.ZipFile(fixture_path("apks", "no-models",
                                      "androguard-com.politedroid_4.apk")) as z:
        manifest = z.read("AndroidManifest.xml")  # label @7f050000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("AndroidManifest.xml", manifest)
        z.writestr("resources.arsc", hostile[4:])
        z.writestr("assets/m.tflite", samples.tflite_model(seed=3))
    path = tmp_path / "app.apk"
    path.write_bytes(buf.getvalue())
    _the_one_model_is_found(path)
    result = extract(str(path))
    assert result.app.package == "com.politedroid"
    assert any("resources.arsc is malformed" in p and "out of bound" in p
               for p in result.app.problems)
    assert capsys.readouterr().out == ""


def test_a_database_whose_check_runs_sqlite_out_of_memory_is_refused_naming_it(tmp_path):
    # fuzz finding (store): on this damaged file SQLite's quick_check answers SQLITE_NOMEM,
    # which Python raises as MemoryError, not sqlite3.Error: it escaped every open
    import hashlib

    from modelhound.corpus.zoo import Zoo
    from modelhound.errors import CorpusError, StoreError
    from modelhound.store import ResultStore

    data = (REG / "store" / "quick-check-out-of-memory").read_bytes()
    db = tmp_path / "results.db"
    db.write_bytes(data)
    for kwargs in ({}, {"resume": True}, {"readonly": True}, {"replace": True}):
        with pytest.raises(StoreError, match="damaged") as e:
            ResultStore(str(db), **kwargs)
        assert str(e.value).startswith(str(db))
    assert hashlib.sha256(db.read_bytes()).digest() == hashlib.sha256(data).digest()
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "zoo.sqlite").write_bytes(data)
    with pytest.raises(CorpusError, match="damaged"):
        Zoo.open(zoo)
    assert (zoo / "zoo.sqlite").read_bytes() == data


def test_an_export_of_a_version_1_database_leaves_the_file_as_it_was(tmp_path):
    # fuzz finding (store): `report --db` (a read-only open) of a version-1 database upgraded
    # the user's file in place; on this damaged one the upgrade left it corrupt
    import hashlib
    import sqlite3

    from modelhound.store import ResultStore

    data = (REG / "store" / "export-of-version-1-migrated-the-file").read_bytes()
    db = tmp_path / "found.db"
    db.write_bytes(data)
    store = ResultStore(str(db), readonly=True)
    assert store.run == 1 and store.apps()
    store.close()
    assert hashlib.sha256(db.read_bytes()).digest() == hashlib.sha256(data).digest()

    old = tmp_path / "v1.db"  # the layout modelhound wrote before runs (schema 1)
    with sqlite3.connect(old) as c:
        c.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE inputs (seq INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE,
                sha256 TEXT NOT NULL, status TEXT NOT NULL, app_json TEXT NOT NULL,
                finished_at REAL NOT NULL);
            CREATE TABLE rows (input_seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL, row_json TEXT NOT NULL, PRIMARY KEY (input_seq, ordinal));
            INSERT INTO meta VALUES ('schema_version', '1'), ('generator', 'modelhound 0.1.0');
            INSERT INTO inputs VALUES (1, '/apps/a.apk', 'ab', 'ok', '{"path": "/apps/a.apk"}', 5);
            INSERT INTO rows VALUES (1, 0, '{"entry": "assets/m.tflite"}');
        """)
    c.close()
    before = old.read_bytes()
    store = ResultStore(str(old), readonly=True)
    assert (store.run, store.runs) == (1, 1)
    assert store.apps() == [{"path": "/apps/a.apk"}]
    assert store.rows() == [{"entry": "assets/m.tflite"}]
    store.close()
    assert old.read_bytes() == before


def test_a_database_of_a_schema_version_below_1_is_refused(tmp_path):
    from modelhound.errors import StoreError
    from modelhound.store import ResultStore

    db = tmp_path / "r.db"
    ResultStore(str(db)).close()
    import sqlite3
    with sqlite3.connect(db) as c:
        c.execute("UPDATE meta SET value='0' WHERE key='schema_version'")
    c.close()
    before = db.read_bytes()
    for kwargs in ({}, {"resume": True}, {"readonly": True}):
        with pytest.raises(StoreError, match="schema version 0"):
            ResultStore(str(db), **kwargs)
    assert db.read_bytes() == before
