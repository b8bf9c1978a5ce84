"""DeviceArray: what a tensor on a device (cuda:0) holds in place of a numpy array.

A tensor's `_data` is a numpy array on the CPU; on a device it is a DeviceArray, a box
around the device backend's own array (a numba-cuda device array) with the numpy-like
facts the rest of tracecomp reads without touching the memory: shape, dtype, ndim, size,
strides (always C order), flags. Its contents are reached only through the backend that
registered the device (devices.backend): eager ops run there as kernels (dispatch.bind),
`.cpu()` copies back.

Why a box and not the backend's array itself:
  * an in-place update (p.add_(g), an optimizer step, a compiled step's new parameters)
    puts the new device array into the box (`assign`), so every tensor sharing the box
    (p, p.data, p.detach(), an optimizer's reference) sees the update without a copy;
  * numpy must never read device memory by accident: np.asarray(box) raises the error
    torch raises for a CUDA tensor, instead of numba's simulator quietly handing numpy its
    host buffer (code that only works on the simulator must fail there too).
"""
import math

import numpy as np

# whether any DeviceArray was ever made: until then dispatch.bind skips looking for one
devices_used = [False]


class DeviceArray:
    __slots__ = ("array", "shape", "dtype", "device")

    def __init__(self, array, shape, dtype, device):
        devices_used[0] = True
        self.array = array              # the backend's array; 0-d values as 1 element
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.device = device            # a tracecomp.device, e.g. device('cuda', 0)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def strides(self):
        strides, step = [], self.dtype.itemsize
        for d in reversed(self.shape):
            strides.append(step)
            step *= max(d, 1)
        return tuple(reversed(strides))

    # numpy's flags and base, as the eager code asks them of its arrays: a device array
    # is C-contiguous, writeable and owns its memory
    class flags:        # noqa: N801  (numpy's attribute name)
        c_contiguous = writeable = owndata = True
        f_contiguous = False
    base = None

    def assign(self, other):
        """Take other's contents (a DeviceArray of the same shape): in-place updates."""
        if other.shape != self.shape or other.dtype != self.dtype:
            raise ValueError(f"DeviceArray.assign: {other.dtype}{list(other.shape)} into "
                             f"{self.dtype}{list(self.shape)}")
        self.array = other.array

    def shares(self):
        """A second box over the same memory: the value as it is now, unaffected by a
        later assign() to this box (autograd keeps such a value for in-place updates)."""
        return DeviceArray(self.array, self.shape, self.dtype, self.device)

    copy = shares           # a copy needs no new memory: nothing writes device memory

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                        f"Tensor.cpu() to copy the tensor to host memory first.")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        return f"DeviceArray({self.dtype}{list(self.shape)} on {self.device})"
