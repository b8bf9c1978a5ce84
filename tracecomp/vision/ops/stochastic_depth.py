"""Stochastic depth (Huang et al. 2016, https://arxiv.org/abs/1603.09382) as
torchvision.ops.stochastic_depth: in training, zero a residual branch for randomly chosen
rows of the batch ("row") or for the whole batch ("batch") and scale the survivors by
1 / (1 - p); in eval mode it is the identity. The mask is drawn from tracecomp's generator,
so tracecomp.manual_seed makes it repeatable (not equal to torch's draws)."""
from ... import empty, nn

__all__ = ["stochastic_depth", "StochasticDepth"]


def stochastic_depth(input, p, mode, training=True):
    """input * mask / (1 - p), mask ~ Bernoulli(1 - p) of shape (N, 1, ..., 1) for "row"
    or (1, ..., 1) for "batch"; `input` unchanged when not training or p == 0."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if mode not in ["batch", "row"]:
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = empty(size, dtype=input.dtype).bernoulli_(survival_rate)
    if survival_rate > 0.0:  # p == 1 drops everything; there is nothing to rescale
        noise.div_(survival_rate)
    return input * noise


class StochasticDepth(nn.Module):
    """See stochastic_depth; follows the module's train()/eval() state."""

    def __init__(self, p, mode):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, input):
        return stochastic_depth(input, self.p, self.mode, self.training)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p}, mode={self.mode})"
