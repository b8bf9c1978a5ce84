"""Where torch.hub keeps what it downloads: set_dir's folder, else $TORCH_HOME/hub, where
TORCH_HOME defaults to $XDG_CACHE_HOME/torch and XDG_CACHE_HOME to ~/.cache (torch's
rules, so tracecomp and torch share one cache)."""
import os
import warnings

from ..user_code import user_stacklevel

_hub_dir = None     # set_dir's folder


def get_dir():
    """The hub folder (nothing is created)."""
    if os.getenv("TORCH_HUB"):
        warnings.warn("TORCH_HUB is deprecated, please use env TORCH_HOME instead",
                      stacklevel=user_stacklevel())
    if _hub_dir is not None:
        return _hub_dir
    return os.path.join(_get_torch_home(), "hub")


def _get_torch_home():
    """$TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch (programs and datasets
    call torch.hub._get_torch_home for their own caches)."""
    cache = os.getenv("XDG_CACHE_HOME", "~/.cache")
    return os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))


def set_dir(d):
    """Use folder d (a path; ~ expanded) for everything the hub downloads."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))
