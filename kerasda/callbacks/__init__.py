"""Keras callbacks used by the apps: `Run.train` calls their `on_evaluate(step)` every `eval_every` steps."""

from kerasda.callbacks.base import RunCallback
from kerasda.callbacks.evaluation import ClassifierEvaluation
from kerasda.callbacks.figures import FigureCallback
from kerasda.callbacks.lambda_scheduler import GradientReversalScheduler
from kerasda.callbacks.model_selection import UnsupervisedModelSelection
from kerasda.callbacks.sample_quality import SampleQualityEvaluation
