"""DANN's schedules: the adaptation factor lambda and the annealed learning rate.

Both are functions of the training progress `p = step / total_steps` in [0, 1]
(Ganin & Lempitsky, 2015, section 5.2.2):

    lambda_p = 2 / (1 + exp(-gamma p)) - 1                   gamma = 10
    mu_p     = mu_0 / (1 + alpha p) ** beta                  mu_0 = 0.01, alpha = 10, beta = 0.75

lambda starts at 0 so that the domain classifier's noisy early gradients do not
disturb the features, and approaches 1; the learning rate decays 1 -> ~0.17x.
"""

import keras
from keras import ops

# How DANN sets its reversal strength: "paper" and "constant" are the kinds of
# `AdaptationSchedule`; "external" leaves lambda to someone else (e.g.
# `kerasda.callbacks.GradientReversalScheduler` for plain `fit`).
LAMBDA_SCHEDULES = ("paper", "constant", "external")
SCHEDULE_KINDS = LAMBDA_SCHEDULES[:2]
OPTIMIZERS = ("sgd", "adam")


def dann_lambda(progress, gamma=10.0):
    """`2 / (1 + exp(-gamma * progress)) - 1`: 0 at p = 0, ~1 at p = 1.

    Args:
        progress: training progress in [0, 1] (float or tensor).
        gamma: steepness; 10 in the paper.

    Returns:
        A float32 tensor of the same shape as `progress`.
    """
    progress = ops.cast(progress, "float32")
    return 2.0 / (1.0 + ops.exp(-gamma * progress)) - 1.0


def training_progress(step, total_steps):
    """`min(step / total_steps, 1)` as a float32 tensor."""
    return ops.minimum(ops.cast(step, "float32") / float(total_steps), 1.0)


@keras.saving.register_keras_serializable(package="kerasda")
class AdaptationSchedule:
    """Step -> lambda, the gradient-reversal strength.

    Args:
        total_steps: steps at which progress reaches 1.
        kind: "paper" (`lambda_max * dann_lambda(p, gamma)`) or "constant"
            (`lambda_max` from the first step; the ablation).
        gamma: steepness of the paper schedule.
        lambda_max: the value approached at the end (paper: 1).

    Example:
        >>> schedule = AdaptationSchedule(total_steps=1000)
        >>> float(schedule(500))   # p = 0.5
        0.9866...
    """

    def __init__(self, total_steps, kind="paper", gamma=10.0, lambda_max=1.0):
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {SCHEDULE_KINDS}, got {kind!r}.")
        if not total_steps >= 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps!r}.")
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma!r}.")
        if not lambda_max >= 0:
            raise ValueError(f"lambda_max must be >= 0, got {lambda_max!r}.")
        self.total_steps = int(total_steps)
        self.kind = kind
        self.gamma = float(gamma)
        self.lambda_max = float(lambda_max)

    def __call__(self, step):
        if self.kind == "constant":
            return ops.convert_to_tensor(self.lambda_max, "float32")
        progress = training_progress(step, self.total_steps)
        return self.lambda_max * dann_lambda(progress, self.gamma)

    def get_config(self):
        return {
            "total_steps": self.total_steps,
            "kind": self.kind,
            "gamma": self.gamma,
            "lambda_max": self.lambda_max,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerasda")
class AnnealedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """`mu_0 / (1 + alpha p) ** beta` with `p = min(step / total_steps, 1)`.

    Args:
        initial_learning_rate: mu_0 (paper: 0.01 with SGD).
        total_steps: steps at which p reaches 1.
        alpha: paper 10.
        beta: paper 0.75.
    """

    def __init__(self, initial_learning_rate, total_steps, alpha=10.0, beta=0.75):
        if not initial_learning_rate > 0:
            raise ValueError(f"initial_learning_rate must be > 0, got {initial_learning_rate!r}.")
        if not total_steps >= 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps!r}.")
        if not alpha >= 0 or not beta >= 0:
            raise ValueError(f"alpha and beta must be >= 0, got {alpha!r}, {beta!r}.")
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def __call__(self, step):
        progress = training_progress(step, self.total_steps)
        return self.initial_learning_rate / ops.power(1.0 + self.alpha * progress, self.beta)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "alpha": self.alpha,
            "beta": self.beta,
        }


def build_optimizer(name="sgd", learning_rate=0.01, total_steps=None, momentum=0.9, anneal=True):
    """The paper's optimizer (SGD, momentum 0.9, annealed rate) or Adam.

    Args:
        name: "sgd" or "adam".
        learning_rate: mu_0.
        total_steps: needed when `anneal` is true.
        momentum: SGD momentum (ignored by Adam).
        anneal: use `AnnealedLearningRate`; otherwise a constant rate.

    Returns:
        An unbuilt keras optimizer.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}.")
    if anneal:
        if total_steps is None:
            raise ValueError("total_steps is required when anneal=True.")
        learning_rate = AnnealedLearningRate(learning_rate, total_steps)
    elif not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}.")
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    return keras.optimizers.Adam(learning_rate=learning_rate)
