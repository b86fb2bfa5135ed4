"""LeNet for MNIST written without Keras, as in TensorFlow's classic ``mnist_with_summaries``.

Weights are ``tf.Variable``s drawn from a truncated normal (stddev 0.1), biases start at
the constant 0.1, and every layer runs under its own ``tf.name_scope``: that scope is all
reportgen has to tell the layers apart, exactly as with a frozen graph from an old TF1
project. The forward pass is a ``tf.function`` with a fixed input signature, so the graph
can be traced without calling it.
"""

from __future__ import annotations

from typing import Any

DROPOUT_RATE = 0.5


def build_lenet_tf() -> Any:
    """The module (random weights); ``module(x)`` is the inference pass, x: [N, 28, 28, 1]."""
    import tensorflow as tf

    def weight_variable(shape: list[int]) -> Any:
        return tf.Variable(tf.random.truncated_normal(shape, stddev=0.1), name="weights")

    def bias_variable(shape: list[int]) -> Any:
        return tf.Variable(tf.constant(0.1, shape=shape), name="biases")

    class LeNetTF(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="lenet_tf")
            with tf.name_scope("conv1"):
                self.conv1_w = weight_variable([5, 5, 1, 32])
                self.conv1_b = bias_variable([32])
            with tf.name_scope("conv2"):
                self.conv2_w = weight_variable([5, 5, 32, 64])
                self.conv2_b = bias_variable([64])
            with tf.name_scope("fc1"):
                self.fc1_w = weight_variable([7 * 7 * 64, 1024])
                self.fc1_b = bias_variable([1024])
            with tf.name_scope("fc2"):
                self.fc2_w = weight_variable([1024, 10])
                self.fc2_b = bias_variable([10])

        def forward(self, x: Any, training: bool) -> Any:
            with tf.name_scope("conv1"):
                h = tf.nn.conv2d(x, self.conv1_w, strides=1, padding="SAME") + self.conv1_b
                h = tf.nn.relu(h)
            with tf.name_scope("pool1"):
                h = tf.nn.max_pool(h, ksize=2, strides=2, padding="SAME")
            with tf.name_scope("conv2"):
                h = tf.nn.conv2d(h, self.conv2_w, strides=1, padding="SAME") + self.conv2_b
                h = tf.nn.relu(h)
            with tf.name_scope("pool2"):
                h = tf.nn.max_pool(h, ksize=2, strides=2, padding="SAME")
            with tf.name_scope("flatten"):
                h = tf.reshape(h, [-1, 7 * 7 * 64])
            with tf.name_scope("fc1"):
                h = tf.nn.relu(tf.matmul(h, self.fc1_w) + self.fc1_b)
            with tf.name_scope("dropout"):
                # Dropout only while training; at inference it passes its input through.
                h = tf.nn.dropout(h, rate=DROPOUT_RATE) if training else tf.identity(h)
            with tf.name_scope("fc2"):
                return tf.nn.softmax(tf.matmul(h, self.fc2_w) + self.fc2_b)

        @tf.function(  # type: ignore[untyped-decorator]
            input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32, name="x")]
        )
        def __call__(self, x: Any) -> Any:
            return self.forward(x, training=False)

    return LeNetTF()
