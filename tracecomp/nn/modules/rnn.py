"""The recurrent layers RNN (tanh/relu), LSTM and GRU, with torch.nn's constructor,
parameter names (weight_ih_l0, ..., _reverse, weight_hr_l0 for LSTM projections), init,
checks, error messages, reprs and (output, h_n) / (output, (h_n, c_n)) results.

A layer is a Python loop over layers and directions. Eagerly each direction's time loop
is one rnn_scan (ops/rnn_scan.py: numpy steps, one tape node, backward through time in
numpy, as ATen's fused layers), ~10x faster than op by op for small layers; traced, the
time steps unroll into the step functions of rnn_cell.py, so `tracecomp.compile` fuses
each step's ops into kernels for the traced sequence length (2-4x faster than rnn_scan's
numpy loop once compiled), until a call comes with other sizes: from then on a trace keeps
rnn_scan, whose one dynamic graph serves every length (context.sizes_vary). An LSTM with
projections runs the step functions eagerly too.
A PackedSequence is run the way ATen runs it: time step t updates only the first
batch_sizes[t] rows of the state (the sequences still running at t), the other rows
keep their state, which for the forward direction is their final one and for the
reverse direction is still the initial one, so one loop serves both.
"""
import numbers
import warnings

from ... import autograd, context, dispatch
from ... import composite as C
from ...creation import empty, zeros
from ...errors import AutogradError
from ...ops import movement as mv
from ...ops.rnn_scan import final_index, rnn_scan, unpack_operands
from ...tensor import Tensor
from ...user_code import user_stacklevel
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, concrete_ints
from .rnn_cell import MODES, GRUCell, LSTMCell, RNNCell, RNNCellBase

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _check_config(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size):
    """torch's constructor checks, in torch's order."""
    if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or \
            isinstance(dropout, bool):
        raise ValueError("dropout should be a number in range [0, 1] representing the "
                         "probability of an element being zeroed")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                      "non-zero dropout expects num_layers greater than 1, but got "
                      f"dropout={dropout} and num_layers={num_layers}",
                      stacklevel=user_stacklevel())
    for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                              ("input_size", input_size, int)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} should be of type {kind.__name__}, got: "
                            f"{type(value).__name__}")
    if input_size <= 0:
        raise ValueError("input_size must be greater than zero")
    if not isinstance(hidden_size, int):
        raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
    if hidden_size <= 0:
        raise ValueError("hidden_size must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters, checks and the layer loop."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        if mode not in MODES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        _check_config(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                      proj_size)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = MODES[mode][0] * hidden_size
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names, self._all_weights = [], []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                shapes = [("weight_ih_l{}{}", (gate_size, layer_input_size)),
                          ("weight_hh_l{}{}", (gate_size, real_hidden_size))]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    shapes += [("weight_hr_l{}{}", (proj_size, hidden_size))]
                suffix = "_reverse" if direction == 1 else ""
                names = [name.format(layer, suffix) for name, _ in shapes]
                for name, (_, shape) in zip(names, shapes):
                    setattr(self, name, Parameter(empty(shape, dtype=dtype)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self):
        """A no-op, as on torch's CPU build (it packs weights for cuDNN)."""

    def reset_parameters(self):
        stdv = 1.0 / (self.hidden_size ** 0.5) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # --- checks (torch's messages) ---------------------------------------------------------
    def _state_sizes(self, batch):
        """The expected shapes of h_0 (and c_0)."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        h = (layers, batch, self.proj_size if self.proj_size > 0 else self.hidden_size)
        return [h, (layers, batch, self.hidden_size)][:MODES[self.mode][2]]

    def _check_forward_args(self, input, states, batch, packed):
        weight = self.weight_ih_l0
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({weight.dtype}). Convert input: input.to({weight.dtype}), or "
                             f"convert model: model.to({input.dtype})")
        expected = 2 if packed else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.size(-1)}")
        sizes = self._state_sizes(batch)
        labels = ["Expected hidden size {}, got {}"] if len(states) == 1 else \
            ["Expected hidden[0] size {}, got {}", "Expected hidden[1] size {}, got {}"]
        for s, size, msg in zip(states, sizes, labels):
            if tuple(s.shape) != size:
                raise RuntimeError(msg.format(size, list(s.shape)))

    def _states(self, hx, is_batched):
        """hx as a list of 3-D state tensors (or None), checking dims as torch does."""
        if hx is None:
            return None
        if self.mode != "LSTM":
            if not isinstance(hx, Tensor):
                raise TypeError(f"{type(self).__name__}: hx must be a Tensor, got "
                                f"{type(hx).__name__}")
            want, got = (3, "batched 3-D") if is_batched else (2, "unbatched 2-D")
            if hx.dim() != want:
                raise RuntimeError(f"For {got} input, hx should also be {want}-D but got "
                                   f"{hx.dim()}-D tensor")
            return [hx if is_batched else hx.unsqueeze(1)]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of two tensors, got "
                            f"{type(hx).__name__}" + (f" of length {len(hx)}"
                                                      if isinstance(hx, (tuple, list)) else ""))
        want, got = (3, "batched 3-D") if is_batched else (2, "unbatched 2-D")
        if hx[0].dim() != want or hx[1].dim() != want:
            raise RuntimeError(f"For {got} input, hx and cx should also be {want}-D but got "
                               f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
        return [h if is_batched else h.unsqueeze(1) for h in hx]

    # --- forward ---------------------------------------------------------------------------
    def forward(self, input, hx=None):
        name = "RNN" if self.mode.startswith("RNN") else self.mode
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected input to be a Tensor or a PackedSequence, got "
                            f"{type(input).__name__}")
        if input.dim() not in (2, 3):
            tail = " tensor instead" if name == "RNN" else " instead"
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tail}")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        states = self._states(hx, is_batched)
        batch = input.size(batch_dim)
        if states is None:
            states = [zeros(size, dtype=input.dtype, device=input.device)
                      for size in self._state_sizes(batch)]
        self._check_forward_args(input, states, batch, packed=False)
        x = input.transpose(0, 1) if self.batch_first else input
        output, finals = self._layers(x, states, [batch] * x.shape[0])
        if self.batch_first:
            output = output.transpose(0, 1)
        if not is_batched:
            output = output.squeeze(batch_dim)
            finals = [s.squeeze(1) for s in finals]
        return output, self._hidden(finals)

    def _forward_packed(self, packed, hx):
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        batch_sizes = concrete_ints(batch_sizes, f"the batch_sizes of the PackedSequence given "
                                                 f"to {type(self).__name__}")
        states = self._states(hx, True)
        if states is None:
            states = [zeros(size, dtype=data.dtype, device=data.device)
                      for size in self._state_sizes(batch_sizes[0])]
        elif sorted_indices is not None:
            states = [s[:, sorted_indices] for s in states]
        self._check_forward_args(data, states, batch_sizes[0], packed=True)
        output, finals = self._layers(data, states, batch_sizes)
        if unsorted_indices is not None:
            finals = [s[:, unsorted_indices] for s in finals]
        return (PackedSequence(output, packed.batch_sizes, sorted_indices, unsorted_indices),
                self._hidden(finals))

    def _hidden(self, finals):
        return finals[0] if len(finals) == 1 else tuple(finals)

    def _layers(self, x, states, batch_sizes):
        """Run every layer over time-major x: (T, B, I), or packed data (N, I) when the
        batch sizes vary. Returns the last layer's output and the final states."""
        packed = x.dim() == 2
        directions = 2 if self.bidirectional else 1
        _, step, _, fold_bias = MODES[self.mode]
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                weights = [getattr(self, name) for name in self._all_weights[k]]
                w_ih, w_hh, b_ih, b_hh, w_hr = _unpack(weights, self.bias, self.proj_size)
                # the input projection of every time step in one 2-D matmul, as ATen does
                # (a 3-D one would differentiate into one product per time step)
                gi = F.linear(x.reshape(-1, x.shape[-1]), w_ih, b_ih)
                gi = gi if packed else gi.reshape(x.shape[0], x.shape[1], -1)
                if fold_bias and b_hh is not None:      # once, not once per time step
                    gi, b_hh = gi + b_hh, None
                begin = [_row(s, k) for s in states]
                if w_hr is None:
                    out, last = _fused(self.mode, gi, w_hh, b_hh, begin, direction == 1,
                                       batch_sizes if packed else None)
                else:       # an LSTM's projection: its steps, op by op
                    pieces = C.split(gi, batch_sizes, 0) if packed else C.unbind(gi, 0)
                    outs, last = _scan(step, pieces, begin, batch_sizes, direction == 1,
                                       (w_hh, b_hh, w_hr))
                    out = C.cat(outs, 0) if packed else C.stack(outs, 0)
                outputs.append(out)
                for f, s in zip(finals, last):
                    f.append(s)
            x = outputs[0] if directions == 1 else C.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, [C.stack(f, 0) for f in finals]


def _unpack(weights, bias, proj_size):
    """(w_ih, w_hh, b_ih, b_hh, w_hr) from one layer-direction's parameter list."""
    w_ih, w_hh, rest = weights[0], weights[1], weights[2:]
    b_ih, b_hh = (rest[0], rest[1]) if bias else (None, None)
    w_hr = rest[-1] if proj_size > 0 else None
    return w_ih, w_hh, b_ih, b_hh, w_hr


def _fused(mode, gi, w_hh, b_hh, state, reverse, batch_sizes):
    """One direction of one layer as one rnn_scan (ops/rnn_scan.py): its output and final
    states, read out of the record as views."""
    if dispatch.trace_hook is not None and not context.sizes_vary:
        # traced, the steps unroll: compiled code fuses each step's ops into kernels, which
        # runs 2-4x faster than rnn_scan's numpy loop (a numpy step in compiled code). Not
        # once the sizes vary: an unrolled graph is one graph per length, rnn_scan's one
        # graph serves every length (compiler/dynamic.py), as torch.compile leaves an RNN
        # module to its eager kernels
        return _unrolled(mode, gi, w_hh, b_hh, state, reverse, batch_sizes)
    if mode == "GRU":
        b_hh = b_hh if b_hh is not None else zeros(w_hh.shape[0], dtype=gi.dtype)
        operands = (gi, w_hh, b_hh, state[0])
    else:
        operands = (gi, w_hh, *state)
    record = rnn_scan(*operands, mode=mode, reverse=reverse, batch_sizes=batch_sizes)
    steps, rows = gi.shape[0], tuple(state[0].shape)
    return (_part(record, 0, 0, steps, (steps,) + tuple(record.shape[2:])),
            [_part(record, k, steps, steps + (rows[0] if batch_sizes else 1), rows)
             for k in range(len(state))])


# A decoder calls its layer once per step: these views are two movement primitives each,
# cheaper than Tensor indexing's parsing of a key (a third of a one-step call's time)
def _part(x, first, start, stop, shape):
    """x[first, start:stop] as `shape`."""
    starts = (first, start) + (0,) * (x.dim() - 2)
    stops = (first + 1, stop) + tuple(x.shape[2:])
    return mv.reshape(mv.slice(x, starts, stops, (1,) * x.dim()), shape)


def _row(x, k):
    """x[k]."""
    return mv.reshape(mv.slice(x, (k,) + (0,) * (x.dim() - 1), (k + 1,) + tuple(x.shape[1:]),
                               (1,) * x.dim()), tuple(x.shape[1:]))


def _unrolled(mode, gi, w_hh, b_hh, state, reverse, batch_sizes):
    """One direction of one layer, step by step with the cells' tensor ops."""
    packed = batch_sizes is not None
    pieces = C.split(gi, batch_sizes, 0) if packed else C.unbind(gi, 0)
    outs, last = _scan(MODES[mode][1], pieces, state, batch_sizes or [gi.shape[1]] * len(pieces),
                       reverse, (w_hh, b_hh, None))
    return (C.cat(outs, 0) if packed else C.stack(outs, 0)), last


def vjp_with_history(g, operands, mode, reverse, batch_sizes):
    """rnn_scan's VJP when the gradient is itself differentiated: the layer direction run
    again op by op, with history, and differentiated with create_graph."""
    gi, w_hh, b_hh, h0, c0 = unpack_operands(mode, operands)
    state = [h0] if c0 is None else [h0, c0]
    if g.shape[0] > len(state) and bool((g[len(state):] != 0).any()):
        raise AutogradError(f"rnn_scan: a gradient of a gradient through the gate channels "
                            f"of an {mode} record is not supported (the layer reads only its "
                            f"output and final states)")
    out, last = _unrolled(mode, gi, w_hh, b_hh, state, reverse, batch_sizes)
    steps = gi.shape[0]
    final = g[(slice(None),) + final_index(steps, batch_sizes is not None)]
    # g is the cotangent of the record's channels the layer reads (the output, the final
    # states); given as grad_outputs, the walk stays out of g's own history, and the
    # gradients carry both (they are linear in g)
    cotangents = [g[0, :steps]] + [final[k] for k in range(len(last))]
    wanted = [x for x in operands if x.requires_grad]
    found = dict(zip(map(id, wanted), autograd.grad([out, *last], wanted, cotangents,
                                                    create_graph=True, allow_unused=True)))
    return tuple(found.get(id(x)) for x in operands)


def _scan(step, pieces, state, batch_sizes, reverse, weights):
    """One direction of one layer: step over the time steps (backwards when reverse).
    At step t only the first batch_sizes[t] rows of the state advance."""
    full = state[0].shape[0]
    outs = [None] * len(pieces)
    for t in (reversed(range(len(pieces))) if reverse else range(len(pieces))):
        bs = batch_sizes[t]
        active = state if bs == full else [s[:bs] for s in state]
        outs[t], new = step(pieces[t], active, *weights)
        state = list(new) if bs == full else [C.cat([n, s[bs:]], 0)
                                              for n, s in zip(new, state)]
    return outs, state


class RNN(RNNBase):
    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' "
                             f"or 'relu'.")
        super().__init__(modes[self.nonlinearity], *args, **kwargs)


class LSTM(RNNBase):
    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)
