"""BERT's optimizer: AdamW without decay on norms and biases, warmup then linear decay."""
import keras
from keras import ops

# Decoupled weight decay everywhere but layer-norm scales/offsets and biases.
NO_DECAY_PATTERN = r"^(gamma|beta|bias|output_bias)$"


@keras.saving.register_keras_serializable(package="cloze")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to ``peak`` over ``warmup_steps``, then falls to 0 at
    ``total_steps``, linearly (``power=1``) or polynomially (BERT's
    ``polynomial_decay``); with ``total_steps=None`` it stays at ``peak``.

    Example:
    >>> schedule = WarmupLinearDecay(peak=1e-3, warmup_steps=10, total_steps=110)
    >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 60, 110)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(self, peak, warmup_steps, total_steps=None, power=1.0):
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.power = power

    def __call__(self, step):
        step = ops.cast(step, "float32")
        factor = step / max(self.warmup_steps, 1)
        if self.total_steps is not None:
            remaining = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
            decay = ops.power(ops.clip(remaining, 0.0, 1.0), self.power)
            factor = ops.where(step < self.warmup_steps, factor, decay)
        return self.peak * ops.clip(factor, 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "power": self.power}


def adamw(learning_rate=5e-5, weight_decay=0.01, **kwargs) -> keras.optimizers.AdamW:
    """AdamW (epsilon 1e-6, as BERT) with norms and biases excluded from weight decay.

    Example:
    >>> optimizer = adamw(WarmupLinearDecay(1e-4, 100, 1000))
    >>> optimizer.weight_decay
    0.01
    """
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay,
                                       epsilon=1e-6, **kwargs)
    optimizer._exclude_from_weight_decay_pattern = NO_DECAY_PATTERN
    return optimizer
