"""The runner's callback events: Keras' own plus a named evaluation event."""

import keras


class RunCallback(keras.callbacks.Callback):
    """A Keras callback that also receives `Run.train`'s evaluation event.

    Every `eval_every` steps `kerasda.runner.Run.train` calls
    `on_evaluate(step, logs)` with the step just trained (plain Keras callbacks
    get `on_epoch_end` there instead). The other events are Keras' own:
    `on_train_begin`, `on_train_batch_begin/end` (with the step) and
    `on_train_end`.
    """

    def on_evaluate(self, step, logs=None):
        """Called every `eval_every` steps; `step` is the number of steps trained so far."""
