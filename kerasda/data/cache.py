"""An on-disk cache of processed arrays, so a second run does not redo the work."""

import os
import tempfile

import numpy as np
from absl import logging

from kerasda.data import paths

CACHE_FORMAT = 1  # bump when a cached dataset's content changes


def cached_arrays(key, build_fn, cache_dir=None):
    """Return `build_fn()` (a dict of arrays), computing it once and storing it as `.npz`.

    The file is written atomically (temp file + rename), so an interrupted run
    never leaves a truncated cache behind.
    """
    path = paths.resolve_cache_dir(cache_dir) / f"{key}.v{CACHE_FORMAT}.npz"
    if path.exists():
        try:
            with np.load(path) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError) as error:
            logging.warning("Ignoring unreadable cache %s (%s); rebuilding.", path, error)
    arrays = build_fn()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    logging.info("Cached %s at %s", key, path)
    return arrays
