"""The residual block of PixelDA's generator (He et al. 2016, as in Bousmalis et al. 2017)."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="kerasda")
class ResidualBlock(layers.Layer):
    """conv-BN-ReLU, conv-BN, plus the input: `y = x + BN(conv(ReLU(BN(conv(x)))))`.

    The block keeps the spatial size and the channel count, so blocks stack
    without projections and an image-to-image generator stays at full
    resolution (PixelDA changes style, not geometry). The convolutions have no
    bias because batch norm's offset plays that role.

    Args:
        filters: channels of both convolutions; must equal the input's channels.
        kernel_size: side of the square convolution kernels (odd, >= 1).
        batch_norm_momentum: moving-average momentum of the batch norms
            (0.9 = the official PixelDA code's decay).
        kernel_initializer: initializer of the convolution kernels.

    Example:
        >>> block = ResidualBlock(64)
        >>> block(np.zeros((2, 32, 32, 64))).shape
        TensorShape([2, 32, 32, 64])
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        batch_norm_momentum=0.9,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"filters must be >= 1, got {filters}.")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}.")
        if not 0.0 <= batch_norm_momentum < 1.0:
            raise ValueError(f"batch_norm_momentum must be in [0, 1), got {batch_norm_momentum}.")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        conv_args = dict(
            padding="same",
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
        )
        self.conv1 = layers.Conv2D(self.filters, self.kernel_size, name="conv1", **conv_args)
        self.bn1 = layers.BatchNormalization(momentum=self.batch_norm_momentum, name="bn1")
        self.conv2 = layers.Conv2D(self.filters, self.kernel_size, name="conv2", **conv_args)
        self.bn2 = layers.BatchNormalization(momentum=self.batch_norm_momentum, name="bn2")

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"ResidualBlock({self.filters}) needs {self.filters} input channels for "
                f"its skip connection, got input shape {tuple(input_shape)}."
            )
        self.conv1.build(input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.filters,)
        self.bn1.build(hidden_shape)
        self.conv2.build(hidden_shape)
        self.bn2.build(hidden_shape)

    def call(self, inputs, training=None):
        x = self.conv1(inputs)
        x = keras.ops.relu(self.bn1(x, training=training))
        x = self.bn2(self.conv2(x), training=training)
        return inputs + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            batch_norm_momentum=self.batch_norm_momentum,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
