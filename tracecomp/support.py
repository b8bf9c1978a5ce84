"""What a torch program meets when it calls a torch API that tracecomp does not have.

Every namespace that mirrors one of torch's (tracecomp, tracecomp.nn, .nn.functional,
.optim, Tensor, ...) ends with `__getattr__ = support.missing_in("torch.nn")`. When a
program reaches for a name that does not exist here, the name is looked up in the list of
torch 2.13's public names (torch_names.py, generated with the support table): a name torch
has raises `Unsupported`, which names the torch API and points to SUPPORT.md, where the
supported surface is listed; any other name is a plain AttributeError, as Python's.

`Unsupported` is both a NotImplementedError (what the program sees when it calls the API)
and an AttributeError, so `hasattr(torch, "fft")` and `getattr(x, "name", default)` answer
False / the default exactly as they would for any missing attribute.
"""
import importlib.abc
import sys

from . import torch_names

SUPPORT_TABLE = "SUPPORT.md"
# The table's address for a reader who installed the package rather than cloning it.
SUPPORT_URL = "SUPPORT.md in the tracecomp repository"


class Unsupported(NotImplementedError, AttributeError):
    """A torch API that tracecomp does not provide (yet)."""


def unsupported(api):
    return Unsupported(f"{api} is not supported by tracecomp yet. The torch APIs tracecomp "
                       f"provides, eagerly and compiled, are listed in {SUPPORT_URL}.")


def missing_in(namespace):
    """A module-level __getattr__ for the tracecomp module mirroring torch's `namespace`."""
    known = torch_names.NAMES.get(namespace, frozenset())
    owner = "tracecomp" + namespace[len("torch"):]

    def __getattr__(name):
        if name in known:
            raise unsupported(f"{namespace}.{name}")
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")
    return __getattr__


def missing_tensor_attribute(tensor, name):
    """Tensor.__getattr__: only called for names a tensor does not have."""
    if name in torch_names.NAMES["torch.Tensor"]:
        raise unsupported(f"torch.Tensor.{name}")
    raise AttributeError(f"'Tensor' object has no attribute {name!r}")


class _SubmoduleFinder(importlib.abc.MetaPathFinder):
    """`import tracecomp.distributions` (from `import torch.distributions`): a torch
    subpackage tracecomp lacks is reported as unsupported, not as a typo."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("tracecomp."):
            return None
        torch_name = "torch" + fullname[len("tracecomp"):]
        if torch_name in torch_names.SUBMODULES:
            raise unsupported(torch_name)
        return None


def install_finder():
    """Append the finder after the real ones: only imports that would fail reach it."""
    if not any(isinstance(f, _SubmoduleFinder) for f in sys.meta_path):
        sys.meta_path.append(_SubmoduleFinder())
