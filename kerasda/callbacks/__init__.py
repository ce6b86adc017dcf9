"""Keras callbacks used by the apps (they work with the runner and with model.fit)."""

from kerasda.callbacks.evaluation import ClassifierEvaluation
from kerasda.callbacks.figures import FigureCallback
from kerasda.callbacks.lambda_scheduler import GradientReversalScheduler
