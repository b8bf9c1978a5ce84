"""scipy.special, imported on the first call of one of its functions.

Importing scipy.special costs about 0.2 s (it pulls in numpy.testing and scipy's array-API
layer), and most programs never call erf, sigmoid or lgamma, so `import tracecomp` must not
pay for it. `special.erf` here is a stand-in that imports scipy.special when first called,
and from then on calls the function it found (an import_module per call cost sigmoid ~1 us).
"""
import importlib


class _LazySpecial:
    def __getattr__(self, name):
        found = None

        def call(*args, **kwargs):
            nonlocal found
            if found is None:
                found = getattr(importlib.import_module("scipy.special"), name)
            return found(*args, **kwargs)
        call.__name__ = call.__qualname__ = name
        return call


special = _LazySpecial()
