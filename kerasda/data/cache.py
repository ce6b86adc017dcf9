"""An on-disk cache of processed arrays, so a second run does not redo the work."""

import hashlib
import os
import pathlib
import tempfile
import time

import numpy as np
from absl import logging

from kerasda.data import paths

CACHE_FORMAT = 1  # bump when a cached dataset's content changes
STALE_TEMP_SECONDS = 3600  # a temp file untouched this long belongs to a run that died


def _remove_stale_temps(directory, key):
    """Delete temp files of `key` left by runs killed mid-write (kill -9 skips `finally`)."""
    now = time.time()
    for tmp in directory.glob(f"{key}.*.tmp.npz"):
        try:
            if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                tmp.unlink()
        except OSError:
            pass


def source_fingerprint(sources):
    """A short hash of where the raw files are and of their size and mtime.

    Part of a cache key, so pointing --data_dir at another copy of a dataset
    (or replacing its files) builds a new cache entry instead of silently
    reusing arrays made from different files. A folder counts by its own
    path and mtime (a file added or removed changes it).
    """
    digest = hashlib.sha1()
    for source in sources:
        path = pathlib.Path(source).resolve()
        try:
            stat = path.stat()
            digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}|missing\n".encode())
    return digest.hexdigest()[:10]


def cached_arrays(key, build_fn, cache_dir=None):
    """Return `build_fn()` (a dict of arrays), computing it once and storing it as `.npz`.

    The file is written atomically (temp file + rename), so an interrupted run
    never leaves a truncated cache behind; a cache file that cannot be read
    anyway (e.g. corrupted on disk) is rebuilt with a warning. When the cache
    folder cannot be written, the arrays are built and used uncached (warned).
    """
    try:
        directory = paths.resolve_cache_dir(cache_dir)
    except OSError as error:
        logging.warning(
            "Cache folder unusable (%s); building %s without caching. Set --cache_dir or $%s to a writable folder.",
            error,
            key,
            paths.CACHE_DIR_ENV,
        )
        return build_fn()
    path = directory / f"{key}.v{CACHE_FORMAT}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except Exception as error:  # zipfile, zlib, EOF and OS errors all mean "rebuild"
            logging.warning("Ignoring unreadable cache %s (%s: %s); rebuilding.", path, type(error).__name__, error)
    arrays = build_fn()
    _remove_stale_temps(directory, key)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{key}.", suffix=".tmp.npz")
    except OSError as error:
        logging.warning("Cannot write the cache %s (%s); continuing uncached.", path, error)
        return arrays
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        logging.info("Cached %s at %s", key, path)
    except OSError as error:
        logging.warning("Cannot write the cache %s (%s); continuing uncached.", path, error)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return arrays
