"""rnn_scan: one direction of one recurrent layer (Elman tanh/relu, LSTM, GRU) over every
time step as one primitive, and rnn_scan_backward, its VJP, back through time.

An LSTM step is ~15 tensor ops and its backward ~25 tape nodes: a small layer (batch 4,
hidden 32) ran 46x slower than torch eagerly, all of it per-op overhead. As one primitive
the time loop runs in numpy, one tape node per layer and direction, as ATen runs its fused
layers. The step formulas are rnn_cell.py's (ATen's gate orders i, f, g, o and r, z, n).

Operands, by mode (`gi` is x W_ih^T + b_ih for every step, with b_hh folded in except for
the GRU, whose b_hn sits inside r * (h W_hn^T + b_hn)):
    LSTM: (gi, w_hh, h0, c0)   GRU: (gi, w_hh, b_hh, h0)   RNN_TANH / RNN_RELU: (gi, w_hh, h0)

gi is time-major (T, B, G), or packed rows (N, G) with `batch_sizes` (a PackedSequence's:
at step t only the first batch_sizes[t] rows advance, the others keep their state).

The result is one tensor, the record, channel first: (K, T + 1, B, H), or (K, N + B, H)
packed. Its K channels hold per step and row what the layer outputs and what the backward
reads: [h, c, i, f, g, o] for the LSTM (gates after their activations), [h, r, z, n,
h W_hn^T + b_hn] for the GRU, [h] for the Elman cells. After the steps, one more block of B
rows holds the final states ([h_n, c_n, 0...]). The layer (nn/modules/rnn.py) reads the
output (channel 0 of the steps: contiguous, as torch's output is, so `out.view(-1, H)`
works) and the final states out of it as views; only those channels take gradients (the
gate channels are the backward's saved values, never read by the layer).
rnn_scan_backward gives the gradients of every operand, raveled one after the other in
operand order, which the VJP views back into their shapes.
"""
import math

import numpy as np

from .. import grad_mode
from ..dispatch import bind
from .registry import defprim
from .rules import same_dtype
from .scipy_special import special

# mode -> the record's channels: h, then what its backward reads (the module docstring)
CHANNELS = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 6, "GRU": 5}


def _steps(gi, batch_sizes):
    """[(the rows of gi that step t reads, the record's index of them within a channel)]
    in time order."""
    if batch_sizes is None:
        return [(t, (t,)) for t in range(gi.shape[0])]
    ends = np.cumsum((0,) + tuple(batch_sizes))
    return [(slice(int(a), int(b)), (slice(int(a), int(b)),))
            for a, b in zip(ends[:-1], ends[1:])]


def _order(steps, reverse):
    return list(reversed(steps)) if reverse else steps


def _record_shape(gi, h0, mode, batch_sizes):
    channels = CHANNELS[mode]
    if batch_sizes is None:
        return (channels, gi[0] + 1, gi[1], h0[-1])
    return (channels, gi[0] + h0[0], h0[-1])


def _rows(record, at):
    """The (K, bs, H) view of one step's rows in every channel."""
    return record[(slice(None),) + at]


def final_index(steps, packed):
    """Where a channel of the record holds the final states, after `steps` steps (or rows)."""
    return (slice(steps, None),) if packed else (steps,)


# --- one step forward, on numpy arrays: the new (h, c); `rec` is the step's record rows,
# (K, bs, H), written here
def _elman(act):
    def step(pre, h, c, w_hh, b_hh, rec):
        rec[0] = h_new = act(pre + h @ w_hh.T)
        return h_new, None
    return step


def _lstm_step(pre, h, c, w_hh, b_hh, rec):
    H = h.shape[-1]
    gates = h @ w_hh.T + pre
    act = special.expit(gates)       # over g's quarter too: cheaper than picking the others
    i, f, o = act[:, :H], act[:, H:2 * H], act[:, 3 * H:]
    g = np.tanh(gates[:, 2 * H:3 * H])
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    rec[0], rec[1], rec[2], rec[3], rec[4], rec[5] = h_new, c_new, i, f, g, o
    return h_new, c_new


def _gru_step(pre, h, c, w_hh, b_hh, rec):
    H = h.shape[-1]
    gh = h @ w_hh.T + b_hh
    rz = special.expit(gh[:, :2 * H] + pre[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = np.tanh(pre[:, 2 * H:] + gh[:, 2 * H:] * r)
    h_new = (h - n) * z + n
    rec[0], rec[1], rec[2], rec[3], rec[4] = h_new, r, z, n, gh[:, 2 * H:]
    return h_new, None


STEPS = {"RNN_TANH": _elman(np.tanh), "RNN_RELU": _elman(lambda v: np.maximum(v, 0)),
         "LSTM": _lstm_step, "GRU": _gru_step}


def unpack_operands(mode, operands):
    """(gi, w_hh, b_hh, h0, c0) from a mode's operand list."""
    if mode == "LSTM":
        gi, w_hh, h0, c0 = operands
        return gi, w_hh, None, h0, c0
    if mode == "GRU":
        gi, w_hh, b_hh, h0 = operands
        return gi, w_hh, b_hh, h0, None
    gi, w_hh, h0 = operands
    return gi, w_hh, None, h0, None


def _impl(*operands, mode, reverse, batch_sizes):
    gi, w_hh, b_hh, h0, c0 = unpack_operands(mode, operands)
    record = np.zeros(_record_shape(gi.shape, h0.shape, mode, batch_sizes), gi.dtype)
    h = h0.copy()
    c = None if c0 is None else c0.copy()
    step = STEPS[mode]
    for rows, at in _order(_steps(gi, batch_sizes), reverse):
        pre = gi[rows]
        bs = pre.shape[0]
        h_new, c_new = step(pre, h[:bs], None if c is None else c[:bs], w_hh, b_hh,
                            _rows(record, at))
        h[:bs] = h_new
        if c is not None:
            c[:bs] = c_new
    final = record[(slice(None),) + final_index(gi.shape[0], batch_sizes is not None)]
    final[0] = h
    if c is not None:
        final[1] = c
    return record


def _shape_rule(*operands, mode, reverse, batch_sizes):
    gi, w_hh, b_hh, h0, c0 = unpack_operands(mode, operands)
    return _record_shape(gi, h0, mode, batch_sizes)


def _vjp(g, record, *operands, mode, reverse, batch_sizes):
    if grad_mode.is_grad_enabled():
        # a gradient that is itself differentiated (create_graph=True: a gradient penalty on
        # a recurrent critic): rnn_scan_backward has no VJP, so the layer's steps are run
        # again op by op, with history, and differentiated (the formulas live with the cells)
        from ..nn.modules.rnn import vjp_with_history
        return vjp_with_history(g, operands, mode, reverse, batch_sizes)
    flat = bind(rnn_scan_backward_p, g, record, *operands, mode=mode, reverse=reverse,
                batch_sizes=batch_sizes)
    grads, start = [], 0
    for x in operands:
        n = math.prod(x.shape)
        grads.append(flat[start:start + n].reshape(x.shape))
        start += n
    return tuple(grads)


rnn_scan_p = defprim("rnn_scan", _impl, _shape_rule, same_dtype, _vjp, ("scan",))


def rnn_scan(*operands, mode, reverse=False, batch_sizes=None):
    """The record of one layer direction (see the module docstring)."""
    return bind(rnn_scan_p, *operands, mode=mode, reverse=reverse,
                batch_sizes=None if batch_sizes is None else tuple(batch_sizes))


# --- backward through time -----------------------------------------------------------------
# one step back: (d pre-activation gates for gi, d gates for h W_hh^T (+ b_hh), d c_prev)
# from the gradients reaching the step's h and c (dh, dc), its record rows `rec` (K, bs, H),
# the state it started from (h_prev, c_prev) and `extra`, the cotangent of the record's
# other channels at the step (None where the layer read none of them: it reads only h, c)
def _elman_back(derivative):
    def back(dh, dc, rec, h_prev, c_prev, extra):
        d = dh * derivative(rec[0])
        return d, d, None
    return back


def _lstm_back(dh, dc, rec, h_prev, c_prev, extra):
    H = dh.shape[-1]
    c, i, f, g, o = rec[1:]
    tc = np.tanh(c)
    dc = dc + dh * o * (1 - tc * tc)
    post = [dc * g, dc * c_prev, dc * i, dh * tc]       # d i, f, g, o after activation
    if extra is not None:
        post = [p + e for p, e in zip(post, extra[1:])]
    d = np.empty((dh.shape[0], 4 * H), dh.dtype)
    d[:, :H] = post[0] * i * (1 - i)
    d[:, H:2 * H] = post[1] * f * (1 - f)
    d[:, 2 * H:3 * H] = post[2] * (1 - g * g)
    d[:, 3 * H:] = post[3] * o * (1 - o)
    return d, d, dc * f


def _gru_back(dh, dc, rec, h_prev, c_prev, extra):
    H = dh.shape[-1]
    r, z, n, ghn = rec[1:]
    post = [dh * (1 - z), dh * (h_prev - n)]            # d n, z after activation
    if extra is not None:
        post = [post[0] + extra[2], post[1] + extra[1]]
    dn = post[0] * (1 - n * n)
    dr = dn * ghn if extra is None else dn * ghn + extra[0]
    d_gi = np.empty((dh.shape[0], 3 * H), dh.dtype)
    d_gi[:, :H] = dr * r * (1 - r)
    d_gi[:, H:2 * H] = post[1] * z * (1 - z)
    d_gi[:, 2 * H:] = dn
    d_gh = d_gi.copy()
    d_gh[:, 2 * H:] = dn * r if extra is None else dn * r + extra[3]
    return d_gi, d_gh, None


BACKS = {"RNN_TANH": _elman_back(lambda h: 1 - h * h),
         "RNN_RELU": _elman_back(lambda h: h > 0),
         "LSTM": _lstm_back, "GRU": _gru_back}


def _previous(record, h0, c0, steps, reverse):
    """Per step, in the order the forward ran them: (its rows, its record index, the h and
    c it started from)."""
    h, c = h0.copy(), None if c0 is None else c0.copy()
    out = []
    for rows, at in _order(steps, reverse):
        rec = _rows(record, at)
        bs = rec.shape[1]
        out.append((rows, at, h[:bs].copy(), None if c is None else c[:bs].copy()))
        h[:bs] = rec[0]
        if c is not None:
            c[:bs] = rec[1]
    return out


# which operands take which gradient, by mode (operand order)
GRADS = {"LSTM": ("gi", "w_hh", "h0", "c0"), "GRU": ("gi", "w_hh", "b_hh", "h0")}


def _backward_impl(g, record, *operands, mode, reverse, batch_sizes):
    gi, w_hh, b_hh, h0, c0 = unpack_operands(mode, operands)
    hidden = h0.shape[-1]
    steps = _steps(gi, batch_sizes)
    g_final = g[(slice(None),) + final_index(gi.shape[0], batch_sizes is not None)]
    dh_next = np.array(g_final[0])
    dc_next = None if c0 is None else np.array(g_final[1])
    d_gi, d_gh = np.zeros_like(gi), np.zeros_like(gi)
    h_prev_all = np.zeros(gi.shape[:-1] + (hidden,), gi.dtype)
    back, states = BACKS[mode], 1 if c0 is None else 2
    # the channels past the states are saved values the layer never reads: their cotangent
    # is zeros, but for a direct use of rnn_scan (the primitive tests' finite differences)
    others = bool(np.any(g[states:])) if g.shape[0] > states else False
    for rows, at, h_prev, c_prev in reversed(_previous(record, h0, c0, steps, reverse)):
        bs = h_prev.shape[0]
        rec, g_rec = _rows(record, at), _rows(g, at)
        dh = dh_next[:bs] + g_rec[0]
        dc = None if c0 is None else dc_next[:bs] + g_rec[1]
        d_in, d_rec, dc_prev = back(dh, dc, rec, h_prev, c_prev, g_rec[1:] if others else None)
        d_gi[rows], d_gh[rows], h_prev_all[rows] = d_in, d_rec, h_prev
        dh_prev = d_rec @ w_hh
        if mode == "GRU":
            dh_prev += dh * rec[2]       # h' = h z + n (1 - z)
        dh_next[:bs] = dh_prev
        if dc_prev is not None:
            dc_next[:bs] = dc_prev
    flat_gh = d_gh.reshape(-1, d_gh.shape[-1])
    grads = {"gi": d_gi, "w_hh": flat_gh.T @ h_prev_all.reshape(-1, hidden), "h0": dh_next,
             "c0": dc_next, "b_hh": None if b_hh is None else flat_gh.sum(0)}
    return np.concatenate([grads[k].ravel() for k in GRADS.get(mode, ("gi", "w_hh", "h0"))])


def _backward_shape_rule(g, record, *operands, mode, reverse, batch_sizes):
    return (sum(math.prod(x) for x in operands),)


def _backward_dtype(g, record, *operands, **_):
    return np.dtype(g.dtype)


# no VJP of its own: rnn_scan's VJP does not use it when grad mode is on while it runs
rnn_scan_backward_p = defprim("rnn_scan_backward", _backward_impl, _backward_shape_rule,
                              _backward_dtype, None, ("scan",))
