"""Periodic scores of a generator's samples (Frechet distance, mode coverage, label accuracy)."""

from kerasda.callbacks.base import RunCallback
from kerasda.evaluation import sampling


class SampleQualityEvaluation(RunCallback):
    """Scores fresh samples at every evaluation: quality over training time in TensorBoard.

    Logs `eval/frechet_distance`, `eval/normalized_entropy`, `eval/max_min_ratio`
    and, for conditional generators, `eval/label_accuracy` (also appended to the
    run's history). With few samples the Frechet distance is biased upwards, so
    compare these curves with each other, not with the final 10,000-sample score.

    Args:
        run: the `kerasda.runner.Run`.
        judge: a `kerasda.evaluation.digits_judge.DigitsJudge`.
        generate_fn: `(noise, labels) -> images`.
        latent_dim: size of z.
        num_classes: classes to request (None for unconditional generators).
        num_samples: samples per evaluation.
        seed: noise seed; the same z at every evaluation.
    """

    def __init__(self, run, judge, generate_fn, latent_dim, num_classes=None, num_samples=1000, seed=0):
        super().__init__()
        self.run = run
        self.judge = judge
        self.generate_fn = generate_fn
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.num_samples = num_samples
        self.seed = seed
        self.history = []

    def on_evaluate(self, step, logs=None):
        scores = sampling.evaluate_generator(
            self.generate_fn, self.judge, self.latent_dim, self.num_classes, self.num_samples, self.seed
        )
        keys = ("frechet_distance", "normalized_entropy", "max_min_ratio", "label_accuracy")
        scalars = {f"eval/{k}": scores[k] for k in keys if scores.get(k) is not None}
        self.run.log_scalars(scalars, step)
        self.run.append_history({"step": step, **scalars})
        self.history.append({"step": step, **scalars})
