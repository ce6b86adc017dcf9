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
    """Export `classifier` (images -> logits) with `serving_default(images) -> {probabilities, classes}`.

    Two more signatures take raw client images and do the resize and scaling
    inside (`raw_image_signatures`): `serving_uint8(pixels)` and `serving_bytes(image_bytes)`.
    """

    def serve(images):
        logits = classifier(images, training=False)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "classes": tf.argmax(logits, axis=-1),
        }

    spec = [tf.TensorSpec([None, *image_shape], tf.float32, name="images")]
    return export_signatures(
        name,
        {"serving_default": (serve, spec), **raw_image_signatures(classifier, image_shape)},
        [classifier], export_root, export_dir,
    )


RAW_IMAGE_SIGNATURES = ("serving_uint8", "serving_bytes")


def raw_image_signatures(classifier, image_shape=(32, 32, 3), value_range=(-1.0, 1.0)):
    """Signatures that take what clients have: pixels of any size, or JPEG/PNG/GIF/BMP bytes.

    Both resize to `image_shape` and scale inside the graph exactly as the
    training data was prepared (`kerasda.data.images.resize_uint8`: bilinear,
    rounded to uint8; then `pipeline.to_model_range`), so a client needs only
    TensorFlow and no kerasda code:

    - `serving_uint8(pixels)`: uint8 [N, H, W, C], any H and W, C = 1 (grey,
      repeated), 2 (grey + alpha), 3, or 4 (alpha dropped).
    - `serving_bytes(image_bytes)`: string [N] of encoded images, each of any
      size; TF Serving's REST API takes them as `{"b64": "..."}`.

    Both return the `serving_default` outputs: `probabilities` [N, classes], `classes` int64 [N].

    Returns:
        {name: (fn, input_signature)} for `export_signatures`.
    """
    height, width = image_shape[0], image_shape[1]
    low, high = value_range

    def to_model_input(pixels):
        channels = tf.shape(pixels)[-1]
        rgb = tf.cond(
            channels < 3,
            lambda: tf.repeat(pixels[..., :1], 3, axis=-1),
            lambda: pixels[..., :3],
        )
        resized = tf.image.resize(tf.cast(rgb, tf.float32), (height, width), "bilinear")
        rounded = tf.clip_by_value(tf.round(resized), 0.0, 255.0)  # the uint8 the loaders keep
        return rounded * ((high - low) / 255.0) + low

    def predict(images):
        logits = classifier(images, training=False)
        return {"probabilities": tf.nn.softmax(logits, axis=-1), "classes": tf.argmax(logits, axis=-1)}

    def serve_uint8(pixels):
        return predict(to_model_input(pixels))

    def serve_bytes(image_bytes):
        def decode(data):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            return to_model_input(image[None])[0]

        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32))
        return predict(images)

    return {
        "serving_uint8": (serve_uint8, [tf.TensorSpec([None, None, None, None], tf.uint8, name="pixels")]),
        "serving_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")]),
    }
