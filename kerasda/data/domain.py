"""A domain: train and test images with labels, as uint8 arrays in memory."""

import dataclasses

import numpy as np

from kerasda.errors import DataError

# Every digit domain names its ten classes, so a subset missing a digit still has ten outputs.
DIGIT_CLASS_NAMES = tuple(str(i) for i in range(10))


class TargetLabelAccessError(RuntimeError):
    """Raised when code reads the training labels of an unlabeled (target) domain."""


@dataclasses.dataclass
class Domain:
    """Images are uint8 [N, H, W, 3]; labels int64 [N].

    Kept as uint8 so that a domain of 60k images costs 180 MB, and so that the
    value range ([-1, 1] or [0, 1]) is chosen by the pipeline, not the loader.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple = ()

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), self.__dict__[f"y_{split}"]
            if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
                raise DataError(f"{self.name}: x_{split} must be uint8 [N, H, W, 3], got {x.dtype} {x.shape}.")
            if len(x) == 0:
                raise DataError(f"{self.name}: the {split} split holds no images; expected at least one.")
            if y is not None and len(y) != len(x):
                raise DataError(
                    f"{self.name}: {len(x)} {split} images but {len(y)} labels; expected one label per image."
                )
        labels = [y for y in (self.__dict__["y_train"], self.__dict__["y_test"]) if y is not None]
        if not self.class_names:
            # Both splits count: a class seen only in training still needs its output unit.
            top = max(int(np.max(y)) for y in labels)
            self.class_names = tuple(str(i) for i in range(top + 1))
        for y in labels:
            if len(y) and (np.min(y) < 0 or np.max(y) >= len(self.class_names)):
                raise DataError(
                    f"{self.name}: labels span [{np.min(y)}, {np.max(y)}] but there are "
                    f"{len(self.class_names)} classes; expected labels 0..{len(self.class_names) - 1}."
                )

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(self.x_train.shape[1:])

    def unlabeled(self):
        """This domain with its training labels sealed.

        Adaptation methods train on target images only; reading `y_train` of the
        returned domain raises, which is how tests prove that labels never leak.
        Test labels stay readable: evaluation needs them.
        """
        return UnlabeledDomain(
            name=self.name,
            x_train=self.x_train,
            y_train=None,
            x_test=self.x_test,
            y_test=self.y_test,
            class_names=self.class_names,
        )


class UnlabeledDomain(Domain):
    """A domain whose training labels may not be read (see `Domain.unlabeled`)."""

    def __getattribute__(self, name):
        if name == "y_train":
            raise TargetLabelAccessError(
                f"Training labels of target domain '{object.__getattribute__(self, 'name')}' "
                "are not available to training code."
            )
        return object.__getattribute__(self, name)
