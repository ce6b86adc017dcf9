"""Where data and caches live, and the error raised when data is missing."""

import os
import pathlib

from kerasda.errors import UserError

DATA_DIR_ENV = "KERASDA_DATA_DIR"
CACHE_DIR_ENV = "KERASDA_CACHE_DIR"


class MissingDataError(UserError, FileNotFoundError):
    """A dataset's files are not where kerasda looked; the message names them.

    A user error (apps print it in one line) and still a FileNotFoundError.
    """


def resolve_data_dir(data_dir=None):
    """`data_dir`, else `$KERASDA_DATA_DIR`, else `~/kerasda_data`."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or "~/kerasda_data"
    return pathlib.Path(chosen).expanduser()


def resolve_cache_dir(cache_dir=None):
    """Processed-dataset cache: `cache_dir`, `$KERASDA_CACHE_DIR`, or `~/.cache/kerasda`.

    Kept apart from the data dir because that one is often read-only (shared).
    """
    chosen = cache_dir or os.environ.get(CACHE_DIR_ENV) or "~/.cache/kerasda"
    path = pathlib.Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_files(directory, names, dataset):
    """Return the paths of `names` in `directory`, or raise one clear error listing what is missing."""
    directory = pathlib.Path(directory)
    paths = [directory / name for name in names]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise MissingDataError(
            f"{dataset} not found: expected {', '.join(missing)}. Point --data_dir or "
            f"${DATA_DIR_ENV} at the folder that holds '{directory.name}/' (see README.md, 'Data')."
        )
    return paths
