"""Set the strength of every gradient reversal layer of a model before each step.

`kerasda.models.DANN` computes lambda inside its own `train_step` (exact at every
step, even with `steps_per_execution > 1`). This callback serves models that
cannot: e.g. a functional two-output model with a `GradientReversal` layer
trained by plain `model.fit`, or a DANN built with `lambda_schedule="external"`.
"""

import keras

from kerasda.layers.gradient_reversal import find_gradient_reversal_layers


class GradientReversalScheduler(keras.callbacks.Callback):
    """Assigns `schedule(step)` to each `GradientReversal` layer's lambda.

    The step is read from `model.optimizer.iterations` when the model has one, so
    a resumed run continues the schedule; otherwise the callback counts batches.
    With `steps_per_execution = k`, callbacks run every k steps, so lambda is
    piecewise constant over k steps.

    Args:
        schedule: step -> lambda, e.g. `kerasda.schedules.AdaptationSchedule`.

    Example:
        >>> schedule = AdaptationSchedule(total_steps=10_000)
        >>> model.fit(ds, steps_per_epoch=1000, epochs=10,
        ...           callbacks=[GradientReversalScheduler(schedule)])
    """

    def __init__(self, schedule):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"schedule must be callable step -> lambda, got {schedule!r}.")
        self.schedule = schedule
        self._layers = []
        self._batches_seen = 0

    def on_train_begin(self, logs=None):
        self._layers = find_gradient_reversal_layers(self.model)
        if not self._layers:
            raise ValueError(f"Model {self.model.name!r} has no GradientReversal layer.")

    def _current_step(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and getattr(optimizer, "built", False):
            return int(keras.ops.convert_to_numpy(optimizer.iterations))
        return self._batches_seen

    def on_train_batch_begin(self, batch, logs=None):
        value = float(keras.ops.convert_to_numpy(self.schedule(self._current_step())))
        for layer in self._layers:
            layer.lambda_.assign(value)

    def on_train_batch_end(self, batch, logs=None):
        self._batches_seen += 1
