"""One view of any classifier for the inspection tools: images -> class scores.

The gradient methods need a differentiable `images -> scores` function. Two
kinds of model are accepted:

- a `keras.Model` that maps images to **logits** (the kerasda towers do);
- a SavedModel with a `serving_default` signature `images -> probabilities`
  (every kerasda classifier export, and any export of that shape). Its score
  is the log-probability: the signature does not expose logits, and
  `log softmax` differs from them by a per-image constant, so saliency of a
  very confident prediction is weaker than with logits (see docs/inspect.md).

`digits_tower_from_export` goes one step further for kerasda digits exports:
their signature's variables are named by layer (`conv1/kernel`, ..., `logits/bias`),
so the Keras tower is rebuilt with those names and loaded, which gives logits
and named layers (for features in transfer learning) from a plain export.
"""

import dataclasses
import pathlib

import keras
import numpy as np
import tensorflow as tf

from kerasda.evaluation import inference
from kerasda.layers.standardization import input_standardization_layer
from kerasda.networks import digits

SCORE_KINDS = ("logits", "log_probabilities")
DIGITS_LAYERS = ("conv1", "conv2", "fc1", "fc2", "logits")
STANDARDIZATIONS = digits.INPUT_STANDARDIZATIONS


@dataclasses.dataclass
class Classifier:
    """A differentiable classifier as the inspection functions see it.

    Attributes:
        scores: tf callable, float images [N, H, W, C] in `value_range` -> [N, K].
        image_shape: (H, W, C) the model takes.
        num_classes: K.
        score_kind: "logits" or "log_probabilities".
        value_range: (low, high) of valid input pixels.
        keras_model: the Keras model when there is one (named layers), else None.
        name: for figures and metrics.
    """

    scores: object
    image_shape: tuple
    num_classes: int
    score_kind: str = "logits"
    value_range: tuple = (-1.0, 1.0)
    keras_model: object = None
    name: str = "classifier"

    def __post_init__(self):
        if self.score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind must be one of {SCORE_KINDS}, got {self.score_kind!r}.")
        low, high = self.value_range
        if not low < high:
            raise ValueError(f"value_range must be (low, high) with low < high, got {self.value_range}.")

    def predict_classes(self, images, batch_size=512):
        """Argmax class of each image (numpy in, numpy out), batched (`inference.predict`)."""
        images = np.asarray(images, np.float32)
        if not len(images):
            return np.zeros((0,), np.int64)
        return np.argmax(inference.predict(self.scores, images, batch_size), axis=-1)


def from_keras(model, value_range=(-1.0, 1.0), name=None):
    """Wrap a `keras.Model` whose output is class logits."""
    shape = tuple(int(d) for d in model.input_shape[1:])
    num_classes = int(model.output_shape[-1])

    def scores(images):
        return model(images, training=False)

    return Classifier(scores, shape, num_classes, "logits", tuple(value_range), model, name or model.name)


def _serving_function(saved_model):
    if isinstance(saved_model, (str, pathlib.Path)):
        saved_model = tf.saved_model.load(str(saved_model))
    if "serving_default" not in saved_model.signatures:
        raise ValueError(f"The SavedModel has no 'serving_default' signature (it has {list(saved_model.signatures)}).")
    return saved_model, saved_model.signatures["serving_default"]


def from_saved_model(saved_model, value_range=(-1.0, 1.0), name=None):
    """Wrap a SavedModel's `serving_default(images) -> {probabilities, ...}`; scores are log-probabilities."""
    loaded, serving_fn = _serving_function(saved_model)
    inputs = serving_fn.structured_input_signature[1]
    if "images" not in inputs or "probabilities" not in serving_fn.structured_outputs:
        raise ValueError(
            "Expected serving_default(images) -> {probabilities, ...}; got inputs "
            f"{sorted(inputs)} and outputs {sorted(serving_fn.structured_outputs)}."
        )
    shape = tuple(int(d) for d in inputs["images"].shape[1:])
    num_classes = int(serving_fn.structured_outputs["probabilities"].shape[-1])

    def scores(images):
        probabilities = serving_fn(images=images)["probabilities"]
        # Floor only to keep log finite for underflowed classes.
        return tf.math.log(tf.maximum(probabilities, 1e-30))

    scores.loaded = loaded  # keep the restored object (and its variables) alive
    return Classifier(scores, shape, num_classes, "log_probabilities", tuple(value_range), None, name or "saved_model")


def _export_variables(serving_fn):
    return {v.name.split(":")[0]: v for v in serving_fn.variables}


def is_digits_export(saved_model):
    """Whether the export's variables are exactly the plain digits tower's (no batch norm)."""
    _, serving_fn = _serving_function(saved_model)
    names = set(_export_variables(serving_fn))
    return names == {f"{layer}/{kind}" for layer in DIGITS_LAYERS for kind in ("kernel", "bias")}


def digits_tower_from_export(saved_model, name="digits_tower"):
    """Rebuild a kerasda digits-tower export as a flat `keras.Model` with its trained weights.

    The padding follows from fc1's input size (3,072 = "same" at 32x32, 768 =
    "valid" at 28x28). Layers: images, conv1, pool1, conv2, pool2, flatten,
    fc1, fc2, logits. Raises ValueError for exports of another architecture
    (batch-normalised towers, PixelDA's private/shared classifier): use
    `from_saved_model` for those. DANN's and ADDA's weight-free input
    standardisation is found by checking which front end reproduces the
    export's probabilities on probe images; the result is verified, not assumed.
    """
    loaded, serving_fn = _serving_function(saved_model)
    if not is_digits_export(loaded):
        raise ValueError(
            f"Not a plain digits-tower export: variables {sorted(_export_variables(serving_fn))}; "
            f"expected {DIGITS_LAYERS} kernels and biases."
        )
    variables = _export_variables(serving_fn)
    shape = tuple(int(d) for d in serving_fn.structured_input_signature[1]["images"].shape[1:])
    fc1_inputs = int(variables["fc1/kernel"].shape[0])
    padding = None
    for candidate in digits.PADDINGS:
        extractor = digits.build_digits_feature_extractor(shape, padding=candidate)
        if extractor.output_shape[-1] == fc1_inputs:
            padding = candidate
            break
    if padding is None:
        raise ValueError(f"fc1 takes {fc1_inputs} features, which no padding of a {shape} tower gives.")
    num_classes = int(variables["logits/kernel"].shape[-1])
    predictor = digits.build_digits_label_predictor(extractor.output_shape[-1], num_classes)
    # DANN and ADDA put a weight-free per-image standardisation in front; the
    # variables cannot show it, so pick the front end whose outputs match the export's.
    probe = _probe_images(shape)
    expected = serving_fn(images=tf.constant(probe))["probabilities"].numpy()
    for standardization in STANDARDIZATIONS:
        model = _flat_tower(shape, extractor, predictor, standardization, name)
        for layer_name in DIGITS_LAYERS:
            model.get_layer(layer_name).set_weights(
                [variables[f"{layer_name}/kernel"].numpy(), variables[f"{layer_name}/bias"].numpy()]
            )
        got = tf.nn.softmax(model(probe, training=False)).numpy()
        if np.allclose(got, expected, atol=1e-4):
            return model
    raise ValueError(
        "The rebuilt digits tower does not reproduce the export's probabilities with any input "
        f"standardisation in {STANDARDIZATIONS}; use from_saved_model instead."
    )


def build_flat_digits_tower(
    shape=(32, 32, 3), padding="same", num_classes=10, standardization=None, name="digits_tower"
):
    """A freshly initialised digits tower with every layer at top level (a random-weights baseline)."""
    extractor = digits.build_digits_feature_extractor(shape, padding=padding)
    predictor = digits.build_digits_label_predictor(extractor.output_shape[-1], num_classes)
    return _flat_tower(shape, extractor, predictor, standardization, name)


def _flat_tower(shape, extractor, predictor, standardization, name):
    """One functional model with fresh copies of the extractor's and predictor's layers, so every
    layer (conv1 ... logits) has a single call and its `.output` can be used for features."""
    inputs = keras.Input(shape=shape, name="images")
    x = inputs
    if standardization is not None:
        x = input_standardization_layer(standardization)(x)
    for layer in extractor.layers[1:] + predictor.layers[1:]:
        x = layer.__class__.from_config(layer.get_config())(x)
    return keras.Model(inputs, x, name=name)


def _probe_images(shape, count=8, seed=0):
    """Random images with different per-channel offsets and scales, so every front end differs."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 0.6, (count, 1, 1, shape[-1]))
    offset = rng.uniform(-0.4, 0.4, (count, 1, 1, shape[-1]))
    return np.clip(rng.uniform(-1, 1, (count, *shape)) * scale + offset, -1, 1).astype(np.float32)


def load_classifier(path, score="auto", value_range=(-1.0, 1.0), name=None):
    """A `Classifier` from a `.keras` file or a SavedModel folder.

    Args:
        score: "auto" gives logits when they can be had (a .keras model, a
            digits-tower export), else log-probabilities; "logits" demands
            them; "log_probabilities" always uses the serving signature.
    """
    if score not in ("auto", *SCORE_KINDS):
        raise ValueError(f"score must be 'auto', 'logits' or 'log_probabilities', got {score!r}.")
    path = pathlib.Path(path)
    if name is None:  # saved_models/<name>/<version> -> <name>
        name = path.parent.name if path.name.isdigit() else path.stem
    if path.suffix == ".keras":
        if score == "log_probabilities":
            raise ValueError("A .keras model gives logits; score='log_probabilities' needs a SavedModel.")
        return from_keras(keras.saving.load_model(path), value_range, name)
    loaded = tf.saved_model.load(str(path))
    if score == "log_probabilities" or (score == "auto" and not is_digits_export(loaded)):
        return from_saved_model(loaded, value_range, name)
    return from_keras(digits_tower_from_export(loaded), value_range, name)
