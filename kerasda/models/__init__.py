"""Models: one keras.Model subclass per method, each overriding train_step."""

from kerasda.models import gan_networks
from kerasda.models.acgan import ACGAN
from kerasda.models.adda import ADDA
from kerasda.models.cgan import CGAN
from kerasda.models.classifiers import build_digits_classifier
from kerasda.models.dann import DANN, build_digits_dann
from kerasda.models.dcgan import DCGAN
from kerasda.models.pixelda import PixelDA, PixelDAConfig
from kerasda.models.vae import VAE, build_vae
