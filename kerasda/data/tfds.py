"""Thin wrapper over TensorFlow Datasets, used only when local files are absent."""

from absl import logging


def load_tfds_arrays(name, data_dir=None, download=False):
    """Return {"train": (x, y), "test": (x, y)} as numpy arrays, or None if unavailable.

    With `download=False` TFDS only reads an already prepared copy under
    `data_dir` (or its default), so offline runs and tests never reach the network.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    try:
        splits = tfds.load(
            name,
            split=["train", "test"],
            data_dir=str(data_dir) if data_dir else None,
            download=download,
            batch_size=-1,
            as_supervised=True,
        )
    except Exception as error:  # TFDS raises many types for "not prepared" / offline.
        logging.info("TFDS could not provide %s: %s", name, error)
        return None
    train, test = tfds.as_numpy(splits)
    return {"train": train, "test": test}
