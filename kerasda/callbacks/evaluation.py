"""Periodic evaluation of a classifier on labeled test sets (source and target)."""

from kerasda.callbacks.base import RunCallback
from kerasda.evaluation import metrics, plots


class ClassifierEvaluation(RunCallback):
    """Log test accuracy at every evaluation; full metrics and confusion matrices at the end.

    Target labels are read here, for evaluation only, never by a training step.

    Args:
        run: the `kerasda.runner.Run` that owns the output directory.
        predict_fn: images in the model's range -> logits (e.g. `model.classifier`).
        eval_sets: {"source": (x_uint8, y), "target": (x_uint8, y)}.
        class_names: for the confusion-matrix axes.
        max_eval_examples: cap on examples for the periodic (not the final) evaluation.
    """

    def __init__(self, run, predict_fn, eval_sets, class_names, max_eval_examples=2000, value_range=(-1.0, 1.0)):
        super().__init__()
        self.run = run
        self.predict_fn = predict_fn
        self.eval_sets = eval_sets
        self.class_names = list(class_names)
        self.max_eval_examples = max_eval_examples
        self.value_range = value_range
        self.results = {}

    def _accuracy(self, x, y):
        n = self.max_eval_examples
        predicted = metrics.predict_classes(self.predict_fn, x[:n], value_range=self.value_range)
        return float((predicted == y[:n]).mean())

    def on_evaluate(self, step, logs=None):
        scalars = {f"eval/{name}_accuracy": self._accuracy(x, y) for name, (x, y) in self.eval_sets.items()}
        self.run.log_scalars(scalars, step)
        self.run.append_history({"step": step, **scalars})

    def on_train_end(self, logs=None):
        self.results = metrics.evaluate_classifier(
            self.predict_fn, self.eval_sets, len(self.class_names), self.value_range
        )
        for name in self.eval_sets:
            confusion = self.results[f"{name}_test_confusion_matrix"]
            accuracy = self.results[f"{name}_test_accuracy"]
            figure = plots.confusion_matrix_figure(
                confusion, self.class_names, title=f"{name} test: accuracy {accuracy:.2%}"
            )
            # at the step training reached (a time budget may stop it before max_steps)
            self.run.save_figure(figure, f"confusion_{name}", step=self.run.step)
