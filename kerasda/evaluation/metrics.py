"""Classification metrics on held-out test sets: accuracy, macro P/R/F1, confusion matrix."""

import numpy as np
from sklearn import metrics as sk_metrics

from kerasda.data import pipeline
from kerasda.evaluation import inference


def classification_metrics(y_true, y_pred, num_classes):
    """Accuracy, macro precision / recall / F1 and the confusion matrix (rows = true class)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape.")
    labels = np.arange(num_classes)
    precision, recall, f1, _ = sk_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "confusion_matrix": sk_metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def predict_logits(model_or_fn, x_uint8, batch_size=512, value_range=(-1.0, 1.0)):
    """Logits of a model (or any images -> logits function) over uint8 images, batched.

    Through `keras.Model.predict` (see `kerasda.evaluation.inference`); images
    are scaled to `value_range` batch by batch.
    """
    return inference.predict(
        model_or_fn, x_uint8, batch_size, preprocess=lambda images: pipeline.scale_images(images, value_range)
    )


def predict_classes(model_or_fn, x_uint8, batch_size=512, value_range=(-1.0, 1.0)):
    """Arg-max class of `predict_logits`."""
    return np.argmax(predict_logits(model_or_fn, x_uint8, batch_size, value_range), axis=-1)


def evaluate_classifier(model_or_fn, eval_sets, num_classes, value_range=(-1.0, 1.0)):
    """{"<set>_test_<metric>": value} for each (x, y) in `eval_sets` (a dict name -> (x, y))."""
    results = {}
    for name, (x, y) in eval_sets.items():
        report = classification_metrics(y, predict_classes(model_or_fn, x, value_range=value_range), num_classes)
        results.update({f"{name}_test_{key}": value for key, value in report.items()})
    return results
