"""SavedModel export with named serving signatures, into versioned folders.

Versions follow TF Serving's layout, `saved_models/<name>/<integer>/`; a new
export takes the next integer and an existing non-empty folder is never
overwritten.

Every signature checks its inputs inside the graph: a tensor of the wrong rank
or shape (e.g. 32x32 images sent to a 28x28 model), or values outside the
declared range (e.g. 0..255 pixels sent to a model of [-1, 1] images), fails
with an InvalidArgumentError that names the signature, the input, the shape
and range expected and the shape or range received. A wrong dtype is refused
by TensorFlow itself ("expected to be a float tensor but is a uint8 tensor").
An empty batch is answered with empty outputs (the model runs on one zero example,
since oneDNN's convolutions fail on zero images).

One export path. A model declares what it serves in one method,
`serving_endpoints()`, returning `{signature name: Endpoint}`; `export_model`
writes those endpoints. A bare classifier (images -> logits) gets
`classifier_endpoints` through `export_classifier`. Both end in
`export_signatures`, the only function that writes a SavedModel:

    export.export_model(pixelda_model, "pixelda_generator")        # adapt, serving_default
    export.export_model(vae, "endovae")                            # encode, decode, reconstruct
    export.export_classifier(dann.classifier, "dann_classifier", (28, 28, 3))

Why `tf.saved_model.save` of a `tf.Module` and not `keras.export.ExportArchive`:
`ExportArchive.write_out` always adds a `serving_default` alias of the first
endpoint when none is declared, so the VAE's export (exactly `encode`, `decode`,
`reconstruct`) would gain a fourth signature, and it writes straight to the
final folder. The rest of what it does (a trackable root holding the endpoint
functions and the variables they capture) is the dozen lines of
`export_signatures` below, which also writes atomically (`_save_atomically`).
"""

import dataclasses
import functools
import inspect
import os
import pathlib
import shutil

import tensorflow as tf

from kerasda.errors import FlagError

DEFAULT_EXPORT_ROOT = "saved_models"
CLASSIFIER_INPUT_RANGE = (-1.0, 1.0)  # exported classifiers take images scaled like the training pipeline


def next_version_dir(export_root, name):
    """`export_root/name/<1 + the largest existing integer version>`."""
    model_dir = pathlib.Path(export_root) / name
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return model_dir / str(max(versions, default=0) + 1)


class ExportExistsError(FlagError, FileExistsError):
    """--export_dir already holds files (a user error, and still a FileExistsError)."""


def resolve_export_dir(name, export_root=DEFAULT_EXPORT_ROOT, export_dir=None):
    """The folder to write: `export_dir` if given (must be new or empty), else the next version."""
    if export_dir is None:
        return next_version_dir(export_root or DEFAULT_EXPORT_ROOT, name)
    path = pathlib.Path(export_dir)
    if path.exists() and any(path.iterdir()):
        raise ExportExistsError(
            f"Export directory {path} already holds an export; choose a new --export_dir or "
            "leave it unset to write the next version."
        )
    return path


def _describe(spec, value_range):
    dims = ", ".join("N" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(spec.shape))
    text = f"{spec.dtype.name} [{dims}]"
    return text if value_range is None else f"{text} with values in [{value_range[0]:g}, {value_range[1]:g}]"


def _input_checks(value, spec, label, value_range=None, tolerance=1e-3):
    """In-graph assertions that `value` has `spec`'s rank and known dims (and lies in `value_range`).

    The signature's placeholder has a static shape, but serving calls are not
    checked against it, so the checks read the runtime shape. The shape is
    padded with -1 to rank + 1 entries so that a missing or an extra axis fails
    the comparison instead of the comparison itself.
    """
    rank = spec.shape.rank
    expected = _describe(spec, value_range)
    actual = tf.shape(value)
    padded = tf.concat([actual, tf.fill([rank + 1], -1)], axis=0)[: rank + 1]
    ok = tf.equal(padded[rank], -1)
    for axis, dim in enumerate(spec.shape):
        if dim is None:
            ok = tf.logical_and(ok, tf.greater_equal(padded[axis], 0))
        else:
            ok = tf.logical_and(ok, tf.equal(padded[axis], dim))
    checks = [tf.debugging.Assert(ok, [f"{label} must be {expected}; got shape", actual], summarize=rank + 2)]
    if value_range is not None:
        with tf.control_dependencies(checks):
            low, high = tf.reduce_min(value), tf.reduce_max(value)
            in_range = tf.logical_and(low >= value_range[0] - tolerance, high <= value_range[1] + tolerance)
            checks.append(
                tf.debugging.Assert(
                    tf.logical_or(tf.equal(tf.size(value), 0), in_range),
                    [f"{label} must be {expected}; got values in", low, high],
                )
            )
    return checks


def _with_input_checks(fn, signature_name, input_signature, input_ranges):
    """`fn` behind the checks of `_input_checks`, keeping its argument names (the signature's)."""
    names = list(inspect.signature(fn).parameters)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        bound = inspect.signature(fn).bind(*args, **kwargs)
        values = [bound.arguments[name] for name in names[: len(input_signature)]]
        checks = []
        for name, value, spec in zip(names, values, input_signature):
            input_name = spec.name or name
            checks += _input_checks(
                value, spec, f"signature '{signature_name}': input '{input_name}'", input_ranges.get(input_name)
            )
        with tf.control_dependencies(checks):
            values = [tf.identity(value) for value in values]
        return _empty_batch_safe(fn, values)

    return checked


def _empty_batch_safe(fn, values):
    """Run `fn` on a batch of at least one: an empty batch gets empty outputs.

    oneDNN's convolutions (on by default on AVX512 CPUs) fail on a batch of
    zero images, so an empty input is replaced by one zero example and every
    batched output is cut back to the input's batch size.
    """
    batch = tf.shape(values[0])[0]
    outputs = fn(*[_at_least_one(value) for value in values])
    return {name: output if output.shape.rank == 0 else output[:batch] for name, output in outputs.items()}


def _at_least_one(value):
    """`value`, or one zero example of its shape when its batch is empty."""
    padded = tf.cond(
        tf.equal(tf.shape(value)[0], 0),
        lambda: tf.zeros(tf.concat([[1], tf.shape(value)[1:]], axis=0), value.dtype),
        lambda: value,
    )
    if value.shape.rank is not None:  # keep the static shape tf.cond loses
        padded.set_shape(tf.TensorShape([None]).concatenate(value.shape[1:]))
    return padded


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One serving signature: `fn(**inputs) -> {output name: tensor}`.

    Args:
        fn: a function of the inputs, named as the signature's inputs (or by
            the specs' names), returning a dict of tensors.
        input_signature: one `tf.TensorSpec` per argument of `fn`.
        input_ranges: optional {input name: (low, high)}; calls with values
            outside it fail (inputs not listed are only checked for shape).
    """

    fn: object
    input_signature: tuple
    input_ranges: dict = dataclasses.field(default_factory=dict)


def export_model(model, name, export_root=DEFAULT_EXPORT_ROOT, export_dir=None):
    """Export `model.serving_endpoints()` as a versioned SavedModel; returns the path.

    Only the variables the endpoints read are saved (e.g. PixelDA's generator,
    not its discriminator).
    """
    return export_signatures(name, model.serving_endpoints(), (), export_root, export_dir)


class _ServingModule(tf.Module):
    """Holds the tracked Keras models and the variables the signatures capture, so both are saved."""

    def __init__(self, models):
        super().__init__()
        self.models = list(models)
        self.captured_variables = []


def export_signatures(name, signatures, track=(), export_root=DEFAULT_EXPORT_ROOT, export_dir=None, input_ranges=None):
    """Write a SavedModel whose signatures are the given functions (the one writer).

    Args:
        name: model name, the folder under `export_root`.
        signatures: {"signature_name": Endpoint}, or {"signature_name": (fn,
            [tf.TensorSpec, ...])}; `fn` returns a dict of tensors (the
            signature's named outputs).
        track: optional keras models to save whole; the variables the
            signatures read are saved in any case.
        export_root: root of versioned exports.
        export_dir: explicit folder instead of the next version.
        input_ranges: optional {input name: (low, high)} for the (fn, specs)
            form; calls with values outside it fail (inputs not listed are only
            checked for shape).

    Returns:
        The path written; load it with `tf.saved_model.load(path)` and call
        `loaded.signatures["serving_default"](images=...)`.
    """
    if not signatures:
        raise ValueError("At least one signature is required.")
    path = resolve_export_dir(name, export_root, export_dir)
    module = _ServingModule(track)
    concrete = {}
    for signature_name, endpoint in signatures.items():
        if not isinstance(endpoint, Endpoint):
            endpoint = Endpoint(*endpoint, input_ranges=input_ranges or {})
        fn, input_signature = endpoint.fn, list(endpoint.input_signature)
        checked = _with_input_checks(fn, signature_name, input_signature, endpoint.input_ranges)
        function = tf.function(checked, input_signature=input_signature)
        setattr(module, signature_name, function)
        concrete[signature_name] = function.get_concrete_function()
        module.captured_variables.extend(concrete[signature_name].variables)
    _save_atomically(module, path, concrete)
    return path


def _save_atomically(module, path, signatures):
    """`tf.saved_model.save` into a hidden sibling folder, then rename it to `path`.

    A crash or SIGTERM mid-write leaves only `.<name>.partial` (removed by the
    next export to `path`, never counted as a version), so `path` holds a whole
    SavedModel or nothing.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    tf.saved_model.save(module, str(partial), signatures=signatures)
    os.replace(partial, path)  # `path` is absent or an empty folder (see resolve_export_dir)


def export_classifier(classifier, name, image_shape=(32, 32, 3), export_root=DEFAULT_EXPORT_ROOT, export_dir=None):
    """Export `classifier` (images -> logits) with `classifier_endpoints`; returns the path."""
    return export_signatures(name, classifier_endpoints(classifier, image_shape), [classifier], export_root, export_dir)


def classifier_endpoints(classifier, image_shape=(32, 32, 3)):
    """`serving_default(images) -> {probabilities, classes}` and the raw-image signatures.

    `images` must be float32 [N, *image_shape] with values in [-1, 1], i.e.
    uint8 pixels p as p / 127.5 - 1 (`kerasda.data.pipeline.to_model_range`);
    other shapes or ranges are refused by the signature. Two more signatures take
    raw client images and do the resize and scaling inside (`raw_image_signatures`):
    `serving_uint8(pixels)` and `serving_bytes(image_bytes)`.

    Returns:
        {name: Endpoint} for `export_signatures`.
    """

    def serve(images):
        logits = classifier(images, training=False)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "classes": tf.argmax(logits, axis=-1),
        }

    spec = [tf.TensorSpec([None, *image_shape], tf.float32, name="images")]
    raw = raw_image_signatures(classifier, image_shape)
    return {
        "serving_default": Endpoint(serve, spec, {"images": CLASSIFIER_INPUT_RANGE}),
        **{signature: Endpoint(*raw[signature]) for signature in RAW_IMAGE_SIGNATURES},
    }


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
