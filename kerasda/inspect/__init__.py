"""Looking inside classifiers: saliency, adversarial examples, class visualisation, transfer learning.

Every function takes a `model_access.Classifier` (from a `keras.Model` or a
SavedModel's `serving_default`) and returns numpy arrays; `figures` draws them.
"""

from kerasda.inspect.adversarial import TargetedAttack, fgsm, robustness_curve, targeted_attack
from kerasda.inspect.class_visualisation import VisualisationConfig, class_visualisation
from kerasda.inspect.model_access import (
    Classifier,
    digits_tower_from_export,
    from_keras,
    from_saved_model,
    load_classifier,
)
from kerasda.inspect.saliency import class_gradients, mass_inside, saliency_maps

__all__ = [
    "Classifier",
    "TargetedAttack",
    "VisualisationConfig",
    "class_gradients",
    "class_visualisation",
    "digits_tower_from_export",
    "fgsm",
    "from_keras",
    "from_saved_model",
    "load_classifier",
    "mass_inside",
    "robustness_curve",
    "saliency_maps",
    "targeted_attack",
]
