"""Download, verify and unpack datasets into the layout the apps read.

    python -m apps.prepare_data --datasets=mnist,bsds500            # what the digits apps need
    python -m apps.prepare_data --datasets=all --data_dir=/data
    python -m apps.prepare_data --datasets=kvasir --allow_unverified   # Kvasir publishes no checksum

Archives are kept, verified, in `<data_dir>/downloads/` (a second run reuses
them); see kerasda/data/download.py for the layout and the safety rules. On a
machine without network, each failure says which file to place where.
"""

import sys

from absl import flags

from apps import common
from kerasda import errors
from kerasda.data import download

flags.DEFINE_list(
    "datasets",
    ["mnist", "bsds500"],
    f"Datasets to prepare, from {', '.join(download.SPECS)}, or 'all'. The default is what the README's "
    "main job needs (MNIST-M is synthesised from MNIST and BSDS500).",
)
flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR, then ~/kerasda_data.")
flags.DEFINE_string("download_dir", None, "Where verified archives are kept; default <data_dir>/downloads.")
flags.DEFINE_integer("retries", 3, "Attempts per URL before the next mirror.")
flags.DEFINE_bool("allow_unverified", False, "Accept files that have no published checksum (Kvasir).")
flags.DEFINE_bool("force", False, "Unpack again even when the dataset is already in place.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    names = download.select(FLAGS.datasets)  # a FlagError: run_app prints it in one line
    failed = []
    for name in names:
        try:
            folder = download.prepare(
                name,
                FLAGS.data_dir,
                FLAGS.download_dir,
                force=FLAGS.force,
                retries=FLAGS.retries,
                allow_unverified=FLAGS.allow_unverified,
            )
            print(f"{name}: ready at {folder}")
        except errors.UserError as error:  # missing / unreachable, checksum, unverified
            print(f"{name}: FAILED. {error}", file=sys.stderr)
            failed.append(name)
    if failed:
        sys.exit(f"Not prepared: {', '.join(failed)}.")


if __name__ == "__main__":
    common.run_app(main, writes_data_dir=True)
