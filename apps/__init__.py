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


def quiet_python_logs():
    """TensorFlow's Python logger to errors only (the apps' own absl logging stays)."""
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


# `python -m apps.x` imports this package while sys.argv[0] is still "-m"; tests importing apps skip this.
if sys.argv and sys.argv[0] == "-m" and not verbose_requested(sys.argv) and "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _import_tensorflow_quietly()
