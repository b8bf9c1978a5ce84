"""The benchmark workloads written by hand in numpy: the floor that an eager framework's
bookkeeping adds to, and a second opinion on the numbers.

Weights are lists of float32 arrays in `model.parameters()` order (Linear: weight (out, in),
bias; Conv2d: weight (out, in, kh, kw), bias), so one list initializes every contestant. A
training step is cross-entropy + backward + SGD with momentum, as torch computes them; after
a step, `.grads` holds that step's gradients for the result check.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# --- pieces ---------------------------------------------------------------------------------


def linear(x, w, b):
    return x @ w.T + b


def cross_entropy(logits, y):
    """(mean loss, d loss / d logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -(shifted[np.arange(n), y] - np.log(s[:, 0])).mean()
    d = e / s
    d[np.arange(n), y] -= 1
    d /= n
    return loss, d


def im2col(x, k, pad):
    """(N*Ho*Wo, C*k*k) patches of x (N, C, H, W), stride 1, zero padding `pad`."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(x, (k, k), axis=(2, 3))           # N, C, Ho, Wo, k, k
    n, _, ho, wo = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * ho * wo, -1)


def conv2d(x, w, b, pad):
    """(output (N, O, Ho, Wo), patches) for a stride-1 convolution as one GEMM."""
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    ho, wo = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    cols = im2col(x, k, pad)
    out = cols @ w.reshape(o, -1).T + b
    return out.reshape(n, ho, wo, o).transpose(0, 3, 1, 2), cols


def conv2d_backward(d, x_shape, w, cols, pad, need_dx=True):
    """(dx, dw, db) of conv2d, given d = dL/d output (N, O, Ho, Wo); dx is None unless
    need_dx (a network's first layer needs no input gradient)."""
    n, c, h, wd = x_shape
    o, _, k, _ = w.shape
    ho, wo = d.shape[2:]
    d2 = d.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (d2.T @ cols).reshape(w.shape)
    if not need_dx:
        return None, dw, d2.sum(0)
    dcols = (d2 @ w.reshape(o, -1)).reshape(n, ho, wo, c, k, k)
    dx = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), d.dtype)
    for i in range(k):              # col2im: each kernel offset adds its shifted patch
        for j in range(k):
            dx[:, :, i:i + ho, j:j + wo] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    if pad:
        dx = dx[:, :, pad:-pad, pad:-pad]
    return dx, dw, d2.sum(0)


def maxpool2(x):
    """(2x2 max pool with stride 2, argmax in each window for the backward)."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(-1)[..., None]    # the first maximum, as torch picks
    return np.take_along_axis(win, idx, -1)[..., 0], idx


def maxpool2_backward(d, idx):
    n, c, ho, wo = d.shape
    g = np.zeros((n, c, ho, wo, 4), d.dtype)
    np.put_along_axis(g, idx, d[..., None], -1)
    return g.reshape(n, c, ho, wo, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * ho,
                                                                              2 * wo)


def sgd_momentum(weights, bufs, grads, lr, momentum):
    """torch.optim.SGD's update: buf = momentum * buf + g (buf = g at the first step)."""
    for w, buf, g in zip(weights, bufs, grads):
        buf *= momentum
        buf += g
        w -= lr * buf


# --- the models -----------------------------------------------------------------------------


class Model:
    """A hand-written model: `infer(x)` gives logits, `step(x, y)` one SGD training step."""

    def __init__(self, weights, lr, momentum):
        self.w = [w.copy() for w in weights]
        self.bufs = [np.zeros_like(w) for w in weights]
        self.lr, self.momentum, self.grads = lr, momentum, None

    def step(self, x, y):
        logits, tape = self.forward(x)
        loss, d = cross_entropy(logits, y)
        self.grads = self.backward(d, tape)
        sgd_momentum(self.w, self.bufs, self.grads, self.lr, self.momentum)
        return loss

    def infer(self, x):
        return self.forward(x)[0]


def mlp_forward(w, x):
    """Linear-ReLU-...-Linear over weights [w0, b0, w1, b1, ...]: (logits, layer inputs)."""
    tape, h = [], x
    for k in range(0, len(w), 2):
        tape.append(h)
        h = linear(h, w[k], w[k + 1])
        if k + 2 < len(w):
            h = np.maximum(h, 0)
    return h, tape


def mlp_backward(w, d, tape):
    """(weight gradients, d loss / d input) given d = d loss / d logits."""
    grads = [None] * len(w)
    for k in range(len(w) - 2, -1, -2):
        a = tape[k // 2]
        grads[k], grads[k + 1] = d.T @ a, d.sum(0)
        d = d @ w[k]
        if k:
            d *= a > 0      # a = relu(h): its gradient mask is h > 0, the same as a > 0
    return grads, d


class MLP(Model):
    """Linear-ReLU-Linear-ReLU-Linear, any widths."""

    def forward(self, x):
        return mlp_forward(self.w, x)

    def backward(self, d, tape):
        return mlp_backward(self.w, d, tape)[0]


class LeNet(Model):
    """conv 6@5x5 pad 2, relu, pool, conv 16@5x5, relu, pool, fc 400-120-84-10, by im2col."""

    def forward(self, x):
        c1w, c1b, c2w, c2b = self.w[:4]
        h1, cols1 = conv2d(x, c1w, c1b, 2)
        p1, idx1 = maxpool2(np.maximum(h1, 0))
        h2, cols2 = conv2d(p1, c2w, c2b, 0)
        p2, idx2 = maxpool2(np.maximum(h2, 0))
        logits, fc_tape = mlp_forward(self.w[4:], p2.reshape(len(x), -1))
        return logits, (x.shape, h1, cols1, idx1, p1, h2, cols2, idx2, p2, fc_tape)

    def backward(self, d, tape):
        x_shape, h1, cols1, idx1, p1, h2, cols2, idx2, p2, fc_tape = tape
        fc_grads, d = mlp_backward(self.w[4:], d, fc_tape)
        d = maxpool2_backward(d.reshape(p2.shape), idx2) * (h2 > 0)
        d, dw2, db2 = conv2d_backward(d, p1.shape, self.w[2], cols2, 0)
        d = maxpool2_backward(d, idx1) * (h1 > 0)
        _, dw1, db1 = conv2d_backward(d, x_shape, self.w[0], cols1, 2, False)
        return [dw1, db1, dw2, db2] + fc_grads


def gelu_tanh(x, a, b):
    """gelu_tanh(x*a+b) with in-place updates, so only two temporaries are written."""
    z = x * a
    z += b
    t = z * z
    t *= 0.044715
    t += 1.0
    t *= z
    t *= np.float32(np.sqrt(2 / np.pi))
    np.tanh(t, out=t)
    t += 1.0
    t *= z
    t *= 0.5
    return t
