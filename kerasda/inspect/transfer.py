"""Transfer learning from a trained network: layer features + SVM, or a new dense head.

The backbone is any `keras.Model` (a kerasda digits tower rebuilt from its
export by `model_access.digits_tower_from_export`, a `.keras` file, or a
`keras.applications` network). Two ways to reuse it on a new task:

- **SVM on features**: features of a named layer, standardised, fed to a
  scikit-learn SVM; C is chosen on a validation split (never the test set)
  and the chosen model is then scored once on the test set.
- **New head**: a fresh fully connected head on the same layer's output,
  trained with the backbone frozen or fine-tuned.
"""

import dataclasses

import keras
import numpy as np
from sklearn import pipeline as sk_pipeline
from sklearn import preprocessing, svm


def layer_model(model, layer_name):
    """`model`'s input -> the named layer's output (flattened to [N, D])."""
    try:
        layer = model.get_layer(layer_name)
    except ValueError as error:
        names = [layer.name for layer in model.layers]
        raise ValueError(f"No layer {layer_name!r} in {model.name}; layers are {names}.") from error
    output = layer.output
    if len(output.shape) > 2:
        output = keras.layers.Flatten(name=f"{layer_name}_flat")(output)
    return keras.Model(model.inputs, output, name=f"{model.name}_{layer_name}")


def extract_features(feature_model, images, batch_size=256):
    """Features of every image, numpy [N, D] (batched `predict`, one traced function)."""
    return np.asarray(feature_model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0))


@dataclasses.dataclass
class SvmSweep:
    """C sweep of an SVM: validation accuracy per C, the chosen C, its model and every C's model."""

    cs: np.ndarray
    validation_accuracy: np.ndarray
    best_c: float
    model: object
    models: list

    def test_accuracy(self, features, labels):
        """Accuracy of the chosen model (the number to report)."""
        return float(np.mean(self.model.predict(features) == np.asarray(labels)))

    def test_accuracy_per_c(self, features, labels):
        """Accuracy of every C's model, for the figure only: the choice was made on validation."""
        return np.array([float(np.mean(m.predict(features) == np.asarray(labels))) for m in self.models])


def make_svm(c, kernel="linear", seed=0):
    """Standardise features, then an SVM (libsvm's SVC: its cost grows with the samples, not the
    feature width, so 3,072-wide conv features of a few thousand images fit in seconds; liblinear's
    LinearSVC took minutes per C on them)."""
    classifier = svm.SVC(C=c, kernel=kernel, gamma="scale", random_state=seed)
    return sk_pipeline.make_pipeline(preprocessing.StandardScaler(), classifier)


def svm_c_sweep(
    train_features, train_labels, val_features, val_labels, cs=(0.01, 0.1, 1.0, 10.0), kernel="linear", seed=0
):
    """Fit one SVM per C on train, pick C by validation accuracy (ties: the smaller C).

    The test set is deliberately not an argument: `SvmSweep.test_accuracy` scores
    the chosen model afterwards.
    """
    cs = np.asarray(sorted(cs), np.float64)
    if len(cs) == 0 or np.any(cs <= 0):
        raise ValueError(f"cs must be a non-empty list of positive values, got {cs}.")
    models, accuracies = [], []
    for c in cs:
        model = make_svm(float(c), kernel, seed).fit(train_features, train_labels)
        models.append(model)
        accuracies.append(float(np.mean(model.predict(val_features) == np.asarray(val_labels))))
    best = int(np.argmax(accuracies))
    return SvmSweep(cs, np.asarray(accuracies), float(cs[best]), models[best], models)


def head_model(feature_model, num_classes, hidden_units=(100,), dropout=0.0, name="transfer"):
    """feature_model followed by a new head: Dense(relu) for each hidden width, then logits."""
    x = feature_model.output
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"head_fc{index}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"head_dropout{index}")(x)
    logits = keras.layers.Dense(num_classes, name="head_logits")(x)
    return keras.Model(feature_model.inputs, logits, name=name)


@dataclasses.dataclass
class HeadConfig:
    """Training of a new head: frozen backbone at `learning_rate`, or the whole network
    fine-tuned with one Adam at the smaller `fine_tune_learning_rate`."""

    fine_tune: bool = False
    hidden_units: tuple = (100,)
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 3e-4
    seed: int = 0


def train_head(feature_model, num_classes, train, validation, config):
    """Train a new head on `feature_model` (frozen or fine-tuned); returns (model, history dict).

    `train` and `validation` are (images, labels). Fine-tuning changes
    `feature_model`'s weights: pass a fresh backbone for each configuration.
    """
    keras.utils.set_random_seed(config.seed)
    feature_model.trainable = config.fine_tune
    model = head_model(feature_model, num_classes, config.hidden_units)
    rate = config.fine_tune_learning_rate if config.fine_tune else config.learning_rate
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(
        np.asarray(train[0], np.float32),
        np.asarray(train[1]),
        validation_data=(np.asarray(validation[0], np.float32), np.asarray(validation[1])),
        epochs=config.epochs,
        batch_size=config.batch_size,
        verbose=0,
        shuffle=True,
    )
    return model, {k: [float(v) for v in values] for k, values in history.history.items()}


def evaluate_head(model, images, labels, batch_size=256):
    logits = model.predict(np.asarray(images, np.float32), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))


def train_val_split(labels, validation_fraction, seed=0):
    """(train, validation) index arrays, stratified by class where every class has 2+ examples."""
    from sklearn.model_selection import train_test_split

    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}.")
    labels = np.asarray(labels)
    n_val = max(1, int(round(len(labels) * validation_fraction)))
    counts = np.unique(labels, return_counts=True)[1]
    stratifiable = counts.min() >= 2 and min(n_val, len(labels) - n_val) >= len(counts)
    stratify = labels if stratifiable else None  # else too few examples for every class on both sides
    return train_test_split(np.arange(len(labels)), test_size=n_val, stratify=stratify, random_state=seed)


def load_transfer_splits(
    domain_spec,
    image_size,
    num_train=2000,
    num_test=2000,
    validation_fraction=0.2,
    center_crop=1.0,
    seed=0,
    data_dir=None,
):
    """(domain, train, validation, test) for a transfer task, images float in [-1, 1].

    Seeded subsets of the domain's train (then split into train/validation)
    and test splits; `center_crop` < 1 loads at size / crop and keeps the centre
    (Kvasir: drops the black corner box that differs between classes).
    """
    from kerasda.data import load_domain, pipeline

    if not 0 < center_crop <= 1:
        raise ValueError(f"center_crop must be in (0, 1], got {center_crop}.")
    load_size = int(round(image_size / center_crop))
    domain = load_domain(domain_spec, data_dir=data_dir, seed=seed, image_size=load_size)
    rng = np.random.default_rng(seed)

    def subset(x, y, count):
        order = rng.permutation(len(y))[: count or len(y)]
        offset = (load_size - image_size) // 2
        x = x[order][:, offset : offset + image_size, offset : offset + image_size]
        return pipeline.to_model_range(x), np.asarray(y[order], np.int64)

    x_train, y_train = subset(domain.x_train, domain.y_train, num_train)
    test = subset(domain.x_test, domain.y_test, num_test)
    train_idx, val_idx = train_val_split(y_train, validation_fraction, seed)
    return domain, (x_train[train_idx], y_train[train_idx]), (x_train[val_idx], y_train[val_idx]), test


def keras_application_backbone(name, image_size, weights=None, include_top=False, pooling="avg"):
    """A `keras.applications` network taking images in [-1, 1], its own preprocessing inside.

    The layers are flat (the network is built on the preprocessed input
    tensor), so any of them can be named for features.

    Args:
        name: e.g. "MobileNetV2", "ResNet50", "EfficientNetB0".
        weights: None (random), "imagenet" (downloads; needs the network) or a
            path to a local `.weights.h5` file for the same architecture and include_top.
    """
    constructor = getattr(keras.applications, name, None)
    if constructor is None or not callable(constructor):
        raise ValueError(f"keras.applications has no network {name!r}.")
    kwargs = dict(include_top=include_top, pooling=None if include_top else pooling)
    shape = (image_size, image_size, 3)
    inputs = keras.Input(shape, name="images")
    x = keras.layers.Rescaling(127.5, offset=127.5, name="to_0_255")(inputs)  # [-1, 1] -> [0, 255]
    module = _application_module(name)
    if module is not None:
        x = keras.layers.Lambda(module.preprocess_input, name="preprocess")(x)
    network = constructor(input_tensor=x, weights="imagenet" if weights == "imagenet" else None, **kwargs)
    if weights not in (None, "imagenet"):
        # Load into the standalone architecture (the file's layout), then copy over in order.
        standalone = constructor(input_shape=shape, weights=None, **kwargs)
        standalone.load_weights(weights)
        network.set_weights(standalone.get_weights())
    return keras.Model(inputs, network.output, name=f"{name}_backbone")


def _application_module(name):
    """The keras.applications sub-module holding `name`'s preprocess_input, if any."""
    for module_name in dir(keras.applications):
        module = getattr(keras.applications, module_name)
        if hasattr(module, name) and hasattr(module, "preprocess_input"):
            return module
    return None


def default_feature_layer(model):
    """The layer whose output feeds the final Dense (the penultimate features) for a classifier;
    the network's own output for a headless backbone."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and len(model.layers) > 2:
        return model.layers[-2].name
    return last.name


@dataclasses.dataclass
class TransferConfig:
    """One transfer study: which layer, which SVM Cs, which head configurations."""

    layer: str = None
    svm_cs: tuple = (0.001, 0.01, 0.1, 1.0, 10.0)
    svm_kernel: str = "linear"
    modes: tuple = ("svm", "frozen", "finetune")
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)
    seed: int = 0

    def __post_init__(self):
        unknown = set(self.modes) - {"svm", "frozen", "finetune"}
        if unknown:
            raise ValueError(f"Unknown modes {sorted(unknown)}; choose from svm, frozen, finetune.")


def transfer_study(backbone_factory, num_classes, train, validation, test, config):
    """SVM C sweep on the layer's features and/or a new head (frozen, fine-tuned).

    Args:
        backbone_factory: () -> a fresh `keras.Model` (a new copy per fine-tuning run).
        train, validation, test: (images in the backbone's range, labels).

    Returns:
        A dict of plain numbers and lists (the metrics.json of the transfer app).
    """
    backbone = backbone_factory()
    layer = config.layer or default_feature_layer(backbone)
    features_of = layer_model(backbone, layer)
    result = {
        "layer": layer,
        "feature_dim": int(features_of.output_shape[-1]),
        "num_train": int(len(train[1])),
        "num_validation": int(len(validation[1])),
        "num_test": int(len(test[1])),
    }
    if "svm" in config.modes:
        f_train, f_val, f_test = (extract_features(features_of, split[0]) for split in (train, validation, test))
        sweep = svm_c_sweep(f_train, train[1], f_val, validation[1], config.svm_cs, config.svm_kernel, config.seed)
        result["svm"] = {
            "kernel": config.svm_kernel,
            "cs": sweep.cs.tolist(),
            "validation_accuracy": sweep.validation_accuracy.tolist(),
            "test_accuracy_per_c": sweep.test_accuracy_per_c(f_test, test[1]).tolist(),
            "best_c": sweep.best_c,
            "test_accuracy": sweep.test_accuracy(f_test, test[1]),
        }
    for mode in ("frozen", "finetune"):
        if mode not in config.modes:
            continue
        head_config = dataclasses.replace(config.head, fine_tune=mode == "finetune")
        model, history = train_head(layer_model(backbone_factory(), layer), num_classes, train, validation, head_config)
        result[f"head_{mode}"] = {
            "test_accuracy": evaluate_head(model, *test),
            "final_validation_accuracy": history["val_accuracy"][-1],
            "history": history,
            **{k: v for k, v in dataclasses.asdict(head_config).items()},
        }
    return result
