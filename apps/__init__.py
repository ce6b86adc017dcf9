"""Runnable programs: `python -m apps.train_<method> --flagfile=apps/configs/<config>.cfg`.

Python imports this package before the app module, hence before TensorFlow:
unless `--verbose` is on the command line, it sets TF_CPP_MIN_LOG_LEVEL=3 and
imports TensorFlow with its start-up lines (C++ INFO/WARNING lines, CUDA
probing on a CPU machine) captured, so apps start quietly. Errors still show:
a failed TensorFlow import replays what it printed, and Python exceptions carry
their own messages.
"""

import os
import sys
import tempfile


def verbose_requested(argv):
    """True if `argv` turns --verbose on (absl's spellings)."""
    flag_args = [arg for arg in argv[1:] if arg.startswith("--verbose") or arg.startswith("--noverbose")]
    return bool(flag_args) and flag_args[-1] in ("--verbose", "--verbose=true", "--verbose=True", "--verbose=1")


def _import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 sent to a temporary file; replay it if the import fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _from_tensorflow_or_keras(record):
    """True for a log record written by TensorFlow's or Keras' own Python modules."""
    path = record.pathname.replace(os.sep, "/")
    return any(f"/{package}/" in path for package in ("tensorflow", "keras", "tf_keras"))


def quiet_python_logs():
    """Hide TensorFlow's and Keras' Python INFO lines (e.g. "Sharding callback duration" at every
    save); their warnings and errors, and the apps' own logging, stay."""
    import logging

    from absl import logging as absl_logging

    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    absl_logging.get_absl_handler().addFilter(
        lambda record: record.levelno >= logging.WARNING or not _from_tensorflow_or_keras(record)
    )


# `python -m apps.x` imports this package while sys.argv[0] is still "-m"; tests importing apps skip this.
if sys.argv and sys.argv[0] == "-m" and not verbose_requested(sys.argv) and "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _import_tensorflow_quietly()


def resolve_packaged_flagfiles(argv, cwd=None):
    """`--flagfile=apps/configs/<name>.cfg` -> the installed copy when that path is not there.

    The README's commands name configs relative to a checkout; after `pip install .`
    (not editable) the same command works from any directory, reading the configs
    shipped as package data.
    """
    prefix, resolved = "--flagfile=", []
    for arg in argv:
        path = arg[len(prefix) :] if arg.startswith(prefix) else None
        if path and path.replace(os.sep, "/").startswith("apps/configs/"):
            if not os.path.exists(os.path.join(cwd or os.getcwd(), path)):
                packaged = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", os.path.basename(path))
                if os.path.exists(packaged):
                    arg = prefix + packaged
        resolved.append(arg)
    return resolved


if sys.argv and sys.argv[0] == "-m":
    sys.argv[:] = resolve_packaged_flagfiles(sys.argv)
