"""The recurrent cells: one time step of an Elman RNN (tanh/relu), an LSTM and a GRU, as
functions (shared with the sequence layers in rnn.py) and as torch's RNNCell, LSTMCell
and GRUCell modules.

The step functions take the input's projection `gi = x W_ih^T + b_ih` already computed:
a sequence layer computes it for every time step with one matmul, as torch's CPU kernels
do, and only the hidden-to-hidden product stays inside the time loop. The formulas are
ATen's (gate order i, f, g, o for the LSTM and r, z, n for the GRU), so results agree
with torch's to float32 rounding (the order of the bias additions may differ by an ulp:
torch's own CPU kernels differ among themselves there too). Everything is built from
public tensor ops, so the eager tape differentiates a cell and, under tracecomp.compile,
a Python time loop over cells unrolls into the graph.
"""
import math

from ... import composite as C
from ...creation import empty, zeros
from ...ops.elementwise import relu, sigmoid, tanh
from ...torch_args import scalar_name
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


# --- one time step; `state` is (h,) or, for the LSTM, (h, c) ------------------------------
# b_hh may be None: a sequence layer adds it to gi once for all steps when the cell's
# formula allows (RNN, LSTM). W_hh stays untransposed here, one linear per step: the
# simplifier turns each step's weight gradient (h^T g)^T into g^T h, so the sum over the
# steps reads contiguous terms (a transpose taken once outside the loop would be applied
# to the whole sum instead, reading every term strided).
def elman_step(activation):
    """h' = act(gi + h W_hh^T + b_hh)."""
    def step(gi, state, w_hh, b_hh, w_hr=None):
        h = activation(F.linear(state[0], w_hh, b_hh) + gi)
        return h, (h,)
    return step


def lstm_step(gi, state, w_hh, b_hh, w_hr=None):
    """c' = f c + i g, h' = o tanh(c') (then h' W_hr^T with a projection)."""
    h, c = state
    i, f, g, o = C.chunk(F.linear(h, w_hh, b_hh) + gi, 4, 1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h = sigmoid(o) * tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, (h, c)


def gru_step(gi, state, w_hh, b_hh, w_hr=None):
    """r, z = sigmoid(gi + gh), n = tanh(gi_n + r gh_n), h' = (h - n) z + n."""
    h = state[0]
    i_r, i_z, i_n = C.chunk(gi, 3, 1)
    h_r, h_z, h_n = C.chunk(F.linear(h, w_hh, b_hh), 3, 1)
    r = sigmoid(h_r + i_r)
    z = sigmoid(h_z + i_z)
    n = tanh(i_n + h_n * r)
    h = (h - n) * z + n
    return h, (h,)


# mode -> (gates per hidden unit, the step, how many state tensors, whether b_hh may be
# added to gi up front: not for the GRU, whose b_hn sits inside r * (h W_hn^T + b_hn))
MODES = {
    "RNN_TANH": (1, elman_step(tanh), 1, True),
    "RNN_RELU": (1, elman_step(relu), 1, True),
    "LSTM": (4, lstm_step, 2, True),
    "GRU": (3, gru_step, 1, False),
}


# --- the cell modules ----------------------------------------------------------------------
class RNNCellBase(Module):
    """weight_ih (chunks*hidden, input), weight_hh (chunks*hidden, hidden), bias_ih and
    bias_hh (chunks*hidden), all U(-1/sqrt(hidden), 1/sqrt(hidden)) as in torch."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), dtype=dtype))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _batched(self, input, states, what):
        """(input as (B, I), states as (B, H) each, whether the input had a batch dim);
        missing states are zeros. `what` names the states in errors, as torch's cells do."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D "
                             f"instead")
        for label, s in zip(what, states):
            if s is not None and s.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected {label} to be 1D or 2D, got {s.dim()}D "
                                 f"instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} "
                               f"expected {self.input_size}")
        if input.dtype != self.weight_ih.dtype:
            raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got "
                               f"{scalar_name(input.dtype)} and "
                               f"{scalar_name(self.weight_ih.dtype)}")
        out = []
        for k, s in enumerate(states):
            if s is None:
                s = zeros(input.shape[0], self.hidden_size, dtype=input.dtype,
                          device=input.device)
            elif not batched:
                s = s.unsqueeze(0)
            if s.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} "
                                   f"batch size {s.shape[0]}")
            if s.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {s.shape[1]}, "
                                   f"expected {self.hidden_size}")
            out.append(s)
        return input, out, batched

    def _step(self, mode, input, states, what):
        input, states, batched = self._batched(input, states, what)
        gi = F.linear(input, self.weight_ih, self.bias_ih)
        _, new = MODES[mode][1](gi, tuple(states), self.weight_hh, self.bias_hh)
        return new if batched else tuple(s.squeeze(0) for s in new)


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device,
                         dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step(modes[self.nonlinearity], input, (hx,), ("hidden",))[0]


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and not isinstance(hx, (tuple, list)):
            raise TypeError(f"lstm_cell(): argument 'hx' (position 2) must be tuple of Tensors, "
                            f"not {type(hx).__name__}")
        states = (None, None) if hx is None else tuple(hx)
        if len(states) != 2:
            raise RuntimeError("lstm_cell expects two hidden states")
        return self._step("LSTM", input, states, ("hx[0]", "hx[1]"))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        return self._step("GRU", input, (hx,), ("hidden",))[0]
