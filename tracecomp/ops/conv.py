"""unfold (im2col) and fold (col2im): the primitives convolution and pooling are built on.

unfold: (N, C, H, W) -> (N, C*kh*kw, L), L = out_h*out_w, exactly torch.nn.functional.unfold.
fold is its adjoint (overlapping patches are summed), so each is the other's VJP and the
pair is closed under differentiation. Conv2d is unfold + matmul; max/avg pooling reduce
over the unfolded kernel axis.
"""
import numpy as np

from .. import context
from ..dispatch import bind
from ..errors import ShapeError, fmt_shape
from .registry import defprim
from .rules import same_dtype


def out_size(n, k, d, p, s):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


# the most bytes of im2col columns one chunk of samples holds (conv2d): two chunks (one
# per thread) fit in a core's L2 beside the product's output, and a batch's columns are
# never all in memory at once
CHUNK_BYTES = 1 << 17


def chunk_samples(n, sample_bytes):
    """How many samples a chunk of conv2d's columns holds: the most that divides the batch
    n and keeps a chunk within CHUNK_BYTES (at least 1); n itself (one chunk, one product
    over the batch) when the whole batch's columns fit, or n is symbolic (a dynamic batch
    dim: its chunk count would be unknown), or the trace is one of several sizes that are
    to make one dynamic graph (context.sizes_vary: its layout must not change with them)."""
    if not isinstance(n, int) or context.sizes_vary or n * sample_bytes <= 2 * CHUNK_BYTES:
        return n
    fit = max(1, CHUNK_BYTES // max(1, sample_bytes))
    return next(c for c in range(min(fit, n), 0, -1) if n % c == 0)


def _check_window(op, kernel, dilation, padding, stride):
    """torch's im2col argument checks, in its order and words: a zero stride or dilation or
    a negative padding would otherwise read the wrong pixels, eagerly and compiled."""
    for name, values, ok, want in (("kernel size", kernel, lambda v: v > 0, "greater than zero"),
                                   ("stride", stride, lambda v: v > 0, "greater than zero"),
                                   ("dilation", dilation, lambda v: v > 0, "greater than zero"),
                                   ("padding", padding, lambda v: v >= 0, "non-negative")):
        if not all(ok(v) for v in values):
            label = "pad" if name == "padding" else name.split()[0]
            raise ShapeError(f"{op}: {name} should be {want}, but got {label}_height: "
                             f"{values[0]} {label}_width: {values[1]}")


def _geometry(op, shape, kernel, dilation, padding, stride):
    _check_window(op, kernel, dilation, padding, stride)
    if len(shape) != 4:
        raise ShapeError(f"{op}: expected a 4-D (N, C, H, W) input, got shape {fmt_shape(shape)}")
    oh, ow = (out_size(shape[2 + i], kernel[i], dilation[i], padding[i], stride[i])
              for i in range(2))
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"{op}: input of spatial size {shape[2]}x{shape[3]} (padding "
                         f"{padding[0]}x{padding[1]}) is smaller than the kernel "
                         f"{kernel[0]}x{kernel[1]} (dilation {dilation[0]}x{dilation[1]}); "
                         f"the output would be {oh}x{ow}")
    return oh, ow


def _unfold_rule(x, kernel, dilation, padding, stride):
    oh, ow = _geometry("unfold", x, kernel, dilation, padding, stride)
    return (x[0], x[1] * kernel[0] * kernel[1], oh * ow)


def _unfold_impl(x, kernel, dilation, padding, stride):
    n, c, h, w = x.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
    oh, ow = _geometry("unfold", x.shape, kernel, dilation, padding, stride)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    sn, sc, sy, sx = x.strides
    # (N, C, kh, kw, oh, ow) view: patch element (i, j) of output pixel (y, x)
    view = np.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, oh, ow), (sn, sc, sy * dh, sx * dw, sy * sh, sx * sw), writeable=False)
    return view.reshape(n, c * kh * kw, oh * ow)


def _fold_rule(cols, output_size, kernel, dilation, padding, stride):
    if len(cols) != 3:
        raise ShapeError(f"fold: expected a 3-D (N, C*kh*kw, L) input, got {fmt_shape(cols)}")
    kk = kernel[0] * kernel[1]
    oh, ow = _geometry("fold", (cols[0], 1) + tuple(output_size), kernel, dilation, padding,
                       stride)
    if cols[1] % kk or cols[2] != oh * ow:
        raise ShapeError(f"fold: input {fmt_shape(cols)} does not match kernel "
                         f"{kernel[0]}x{kernel[1]} and {oh}x{ow} = {oh * ow} blocks")
    return (cols[0], cols[1] // kk) + tuple(output_size)


def _fold_impl(cols, output_size, kernel, dilation, padding, stride):
    n, ckk, _ = cols.shape
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = kernel, dilation, padding, stride
    h, w = output_size
    c = ckk // (kh * kw)
    oh, ow = _geometry("fold", (n, c, h, w), kernel, dilation, padding, stride)
    blocks = cols.reshape(n, c, kh, kw, oh, ow)
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                j * dw:j * dw + sw * (ow - 1) + 1:sw] += blocks[:, :, i, j]
    # row-major, as torch's: a conv's input gradient is then viewable flat (WGAN-GP's
    # gradients.view(n, -1)); the padded buffer's inner window would be strided
    return np.ascontiguousarray(out[:, :, ph:ph + h, pw:pw + w]) if ph or pw else out


def _unfold_vjp(g, out, x, kernel, dilation, padding, stride):
    return (fold(g, tuple(x.shape[2:]), kernel, dilation, padding, stride),)


def _fold_vjp(g, out, cols, output_size, kernel, dilation, padding, stride):
    return (unfold(g, kernel, dilation, padding, stride),)


# unfold moves data (each column element is an input element or padding); fold sums
unfold_p = defprim("unfold", _unfold_impl, _unfold_rule, same_dtype, _unfold_vjp,
                   ("window", "movement"), saves=())
fold_p = defprim("fold", _fold_impl, _fold_rule, same_dtype, _fold_vjp, ("window",), saves=())


def pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    return bind(unfold_p, x, kernel=pair(kernel_size), dilation=pair(dilation),
                padding=pair(padding), stride=pair(stride))


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return bind(fold_p, cols, output_size=pair(output_size), kernel=pair(kernel_size),
                dilation=pair(dilation), padding=pair(padding), stride=pair(stride))
