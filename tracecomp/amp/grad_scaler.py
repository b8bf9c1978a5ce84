"""torch.amp.GradScaler: dynamic loss scaling, with torch's semantics step for step.

    scaler = GradScaler("cpu")              # torch.cuda.amp.GradScaler() means "cuda"
    scaler.scale(loss).backward()           # loss * scale
    scaler.step(optimizer)                  # unscale the grads; skip the step on inf/nan
    scaler.update()                         # back off after a skip, grow after a streak

On 'cuda' without a CUDA device it warns and disables itself, as torch's CPU build does:
scale() returns its input, step() calls optimizer.step(), update() does nothing. On 'cpu'
(and other device types) it scales for real, on the CPU, as torch does.
"""
import warnings
from collections import defaultdict
from enum import Enum

import numpy as np

from .. import dtypes
from ..grad_mode import no_grad
from ..tensor import Tensor
from ..user_code import user_stacklevel

_NO_SCALE = ("Attempted {} but _scale is None.  This may indicate your script did not use "
             "scaler.scale(loss or outputs) earlier in the iteration.")


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state():
    return {"stage": OptState.READY, "found_inf": None}


class GradScaler:
    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        from .. import cuda
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled and not cuda.is_available():
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available."
                          "  Disabling.", stacklevel=user_stacklevel())
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None                      # 0-d float32 tensor, made on first use
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None             # 0-d int32 tensor
            self._per_optimizer_states = defaultdict(_fresh_state)

    def _check_scale(self, funcname):
        if self._scale is None:
            raise AssertionError(_NO_SCALE.format(funcname))

    def _lazy_init(self):
        from ..creation import full
        self._scale = full((), self._init_scale, dtype=dtypes.float32)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=dtypes.int32)

    # --- the three calls of a training step ---------------------------------------------
    def scale(self, outputs):
        """outputs (a tensor, or nested lists/tuples of tensors) times the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init()
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if hasattr(outputs, "__iter__") and not isinstance(outputs, (str, bytes)):
            return map(self.scale, outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def unscale_(self, optimizer):
        """Divide the optimizer's gradients by the scale, in place, noting infs/nans."""
        if not self._enabled:
            return
        self._check_scale("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # torch: the reciprocal in float64, then rounded to float32
        inv_scale = np.float32(1.0 / np.float64(self._scale.item()))
        state["found_inf"] = _unscale_grads(optimizer, inv_scale)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step(*args, **kwargs) unless the gradients hold an inf or a nan."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_scale("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return result

    def update(self, new_scale=None):
        """Back the scale off if a step was skipped; grow it after growth_interval clean
        steps in a row; or set it to new_scale."""
        if not self._enabled:
            return
        self._check_scale("update")
        if new_scale is not None:
            self._set_scale(new_scale)
        else:
            found = [s["found_inf"] for s in self._per_optimizer_states.values()
                     if s["found_inf"] is not None]
            if not found:
                raise AssertionError("No inf checks were recorded prior to update.")
            self._update_scale(any(found))
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _set_scale(self, new_scale):
        reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                  "torch.FloatTensor with requires_grad=False.")
        if isinstance(new_scale, Tensor):
            if new_scale.numel() != 1 or new_scale.requires_grad:
                raise AssertionError(reason)
            new_scale = new_scale.item()
        elif not isinstance(new_scale, float):
            raise AssertionError(reason)
        self._scale.fill_(new_scale)

    def _update_scale(self, found_inf):
        """torch's _amp_update_scale_, in float32 like its kernel."""
        scale, tracker = np.float32(self._scale.item()), self._growth_tracker.item()
        if found_inf:
            scale, tracker = scale * np.float32(self._backoff_factor), 0
        elif tracker + 1 == self._growth_interval:
            with np.errstate(over="ignore"):        # an overflowing scale is kept, below
                grown = scale * np.float32(self._growth_factor)
            scale, tracker = (grown if np.isfinite(grown) else scale), 0
        else:
            tracker += 1
        self._scale.fill_(float(scale))
        self._growth_tracker.fill_(tracker)

    # --- accessors and state ------------------------------------------------------------
    def get_scale(self):
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale.item()

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        self._growth_factor = new_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        self._backoff_factor = new_factor

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        self._growth_interval = new_interval

    def _get_growth_tracker(self):
        if not self._enabled:
            return 0
        if self._growth_tracker is None:
            return self._init_growth_tracker
        return self._growth_tracker.item()

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was "
                               "saved from a disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(state_dict["_growth_tracker"])

    def __getstate__(self):
        """Pickling/deepcopy keep numbers, not tensors (as torch, between iterations)."""
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError("A GradScaler instance may only be pickled at the "
                                     "beginning of an iteration, or at the end after "
                                     "scaler.update().")
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = state["_growth_tracker"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)


def _unscale_grads(optimizer, inv_scale):
    """Multiply every gradient by inv_scale in place; True if any held an inf or a nan, None
    if the optimizer has no gradients (torch's _amp_foreach_non_finite_check_and_unscale_)."""
    found = None
    with no_grad():
        for group in optimizer.param_groups:
            for param in group["params"]:
                if not isinstance(param, Tensor):
                    raise AssertionError(f"expected param to be torch.Tensor, got "
                                         f"{type(param).__name__}")
                grad = param.grad
                if grad is None:
                    continue
                if grad.dtype is dtypes.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                found = bool(found) or not bool(grad.isfinite().all())     # on its device
                grad.mul_(Tensor._make(np.asarray(inv_scale)))      # a float32 0-d tensor
    return found
