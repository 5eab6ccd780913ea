"""TF SavedModel: the saved_model.pb sniffer and describer, and the variables' index (a
LevelDB-style table of BundleEntryProto records) with its data shard."""

from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024
_DATA = "variables/variables.data-00000-of-00001"


def seeds() -> list[bytes]:
    """saved_model.pb and variables.index of a small SavedModel built with TensorFlow."""
    import tempfile
    from pathlib import Path

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="d")])
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(model, folder)
        root = Path(folder)
        return [(root / "saved_model.pb").read_bytes()[:MAX_LEN],
                (root / "variables" / "variables.index").read_bytes()]


def test_one(data: bytes) -> None:
    """The bytes as a saved_model.pb, and as a variables index over a data shard."""
    from modelhound.errors import ExtractError
    from modelhound.extractor.formats import savedmodel

    blob(data, "saved_model.pb", {"variables/variables.index": data, _DATA: data})
    try:
        savedmodel.read_weights({"variables/variables.index": data, _DATA: bytes(4096)})
    except ExtractError:
        pass
