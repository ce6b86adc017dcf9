"""Keep the checkpoint that scores best on unlabelled target images (no target labels read)."""

import json
import os

from kerasda import runner  # the module: runner imports kerasda.callbacks itself
from kerasda.callbacks.base import RunCallback
from kerasda.evaluation import metrics, unsupervised_selection

CRITERION = "information_maximization"


def score_predictions(predict_fn, images, value_range=(-1.0, 1.0)):
    """The criterion's values (and its two entropies) for `predict_fn`'s predictions on unlabelled `images`."""
    logits = metrics.predict_logits(predict_fn, images, value_range=value_range)
    return unsupervised_selection.information_maximization(unsupervised_selection.softmax(logits))


class UnsupervisedModelSelection(RunCallback):
    """Score the model at the start and at every evaluation; keep the best weights on disk.

    The score is `kerasda.evaluation.unsupervised_selection.information_maximization`
    of the predictions on a fixed sample of *unlabelled* target training images,
    so the choice never sees a target label. The weights of `network` (the part
    that training changes, e.g. ADDA's target encoder) are saved whenever the
    score improves; `restore_best()` loads them at the end. The record lives in
    `<output_dir>/selection/` (`selection.json` names the weights file, which is
    written first), so a resumed run keeps the best candidate of the runs before
    it. The step-0 model (before adaptation) is a candidate too.

    Args:
        run: the `kerasda.runner.Run`.
        predict_fn: images in the model's range -> class logits.
        images: uint8 unlabelled target images (the sample that is scored).
        network: the keras model whose weights are kept and restored.
        value_range: the model's input range.
    """

    def __init__(self, run, predict_fn, images, network, value_range=(-1.0, 1.0)):
        super().__init__()
        if not len(images):
            raise ValueError("model selection needs at least one unlabelled target image.")
        self.run = run
        self.predict_fn = predict_fn
        self.images = images
        self.network = network
        self.value_range = value_range
        self.directory = run.output_dir / "selection"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.record_path = self.directory / "selection.json"
        self.best = json.loads(self.record_path.read_text()) if self.record_path.exists() else None

    def score(self):
        """The criterion's values for the model as it is now."""
        return score_predictions(self.predict_fn, self.images, self.value_range)

    def on_train_begin(self, logs=None):
        if self.best is None:  # a fresh run: the unadapted start is a candidate
            self.on_evaluate(self.run.step)

    def on_evaluate(self, step, logs=None):
        scores = self.score()
        scalars = {f"selection/{key}": value for key, value in scores.items()}
        self.run.log_scalars(scalars, step)
        self.run.append_history({"step": step, **scalars})
        if self.best is None or scores[CRITERION] > self.best["score"]:
            self._keep(step, scores)

    def _keep(self, step, scores):
        weights_file = f"best-step{step}.weights.h5"
        self.network.save_weights(str(self.directory / weights_file))
        previous = self.best
        self.best = {"criterion": CRITERION, "score": scores[CRITERION], "step": step, "weights": weights_file}
        self.best.update(scores)
        runner.atomic_write_bytes(self.record_path, json.dumps(self.best, indent=2, sort_keys=True).encode())
        if previous is not None and previous["weights"] != weights_file:
            try:
                os.remove(self.directory / previous["weights"])
            except FileNotFoundError:
                pass

    def restore_best(self):
        """Load the best weights into `network`; returns the record ({"step", "score", ...}) or None."""
        if self.best is None:
            return None
        self.network.load_weights(str(self.directory / self.best["weights"]))
        return dict(self.best)
