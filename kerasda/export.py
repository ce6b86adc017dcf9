"""SavedModel export with named serving signatures, into versioned folders.

Versions follow TF Serving's layout, `saved_models/<name>/<integer>/`; a new
export takes the next integer and an existing non-empty folder is never
overwritten.
"""

import pathlib

import tensorflow as tf

DEFAULT_EXPORT_ROOT = "saved_models"


def next_version_dir(export_root, name):
    """`export_root/name/<1 + the largest existing integer version>`."""
    model_dir = pathlib.Path(export_root) / name
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return model_dir / str(max(versions, default=0) + 1)


def resolve_export_dir(name, export_root=DEFAULT_EXPORT_ROOT, export_dir=None):
    """The folder to write: `export_dir` if given (must be new or empty), else the next version."""
    if export_dir is None:
        return next_version_dir(export_root or DEFAULT_EXPORT_ROOT, name)
    path = pathlib.Path(export_dir)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(
            f"Export directory {path} already holds an export; choose a new --export_dir or "
            "leave it unset to write the next version."
        )
    return path


class _ServingModule(tf.Module):
    """Holds the tracked Keras models so their variables are saved with the signatures."""

    def __init__(self, models):
        super().__init__()
        self.models = list(models)


def export_signatures(name, signatures, track, export_root=DEFAULT_EXPORT_ROOT, export_dir=None):
    """Write a SavedModel whose signatures are the given functions.

    Args:
        name: model name, the folder under `export_root`.
        signatures: {"signature_name": (fn, [tf.TensorSpec, ...])}; `fn` returns
            a dict of tensors (the signature's named outputs).
        track: the keras models whose variables `fn` uses.
        export_root: root of versioned exports.
        export_dir: explicit folder instead of the next version.

    Returns:
        The path written; load it with `tf.saved_model.load(path)` and call
        `loaded.signatures["serving_default"](images=...)`.
    """
    if not signatures:
        raise ValueError("At least one signature is required.")
    path = resolve_export_dir(name, export_root, export_dir)
    module = _ServingModule(track)
    concrete = {}
    for signature_name, (fn, input_signature) in signatures.items():
        function = tf.function(fn, input_signature=input_signature)
        setattr(module, signature_name, function)
        concrete[signature_name] = function.get_concrete_function()
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(path), signatures=concrete)
    return path


def export_classifier(classifier, name, image_shape=(32, 32, 3), export_root=DEFAULT_EXPORT_ROOT, export_dir=None):
    """Export `classifier` (images -> logits) with `serving_default(images) -> {probabilities, classes}`."""

    def serve(images):
        logits = classifier(images, training=False)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "classes": tf.argmax(logits, axis=-1),
        }

    spec = [tf.TensorSpec([None, *image_shape], tf.float32, name="images")]
    return export_signatures(name, {"serving_default": (serve, spec)}, [classifier], export_root, export_dir)
