"""Digit datasets published as one file per split (train, test), read by a format-specific reader."""

from kerasda.data import cache, images, paths
from kerasda.data.domain import DIGIT_CLASS_NAMES, Domain


def load_split_files(name, files, read, data_dir=None, image_size=32, cache_dir=None, native_size=None):
    """A Domain `name` from `<data_dir>/<name>/{split: file}`; `read(path) -> (uint8 images, labels)`.

    Images become RGB, bilinearly resized to `image_size`, and cached under a
    fingerprint of the files (so another copy of the data never shares an
    entry). Missing files raise a DataError naming every one of them. At
    `native_size` the files are read directly: that is as fast as the cache.
    """
    folder = paths.resolve_data_dir(data_dir) / name
    located = dict(zip(files, paths.require_files(folder, files.values(), name.upper())))

    def build():
        arrays = {}
        for split, path in located.items():
            x, y = read(path)
            arrays[f"x_{split}"], arrays[f"y_{split}"] = images.resize_uint8(images.to_rgb(x), image_size), y
        return arrays

    if image_size == native_size:
        arrays = build()
    else:
        key = f"{name}_{cache.source_fingerprint(located.values())}_{image_size}px"
        arrays = cache.cached_arrays(key, build, cache_dir)
    return Domain(name, **arrays, class_names=DIGIT_CLASS_NAMES)
