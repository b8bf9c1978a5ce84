"""A namespace of settable flags that refuses misspelt ones (torch's backend modules raise
AttributeError("Unknown attribute foo") rather than silently keep a typo)."""


class FlagNamespace:
    def __init__(self, name, **flags):
        object.__setattr__(self, "_name", name)
        self.__dict__.update(flags)

    def __setattr__(self, key, value):
        if key not in self.__dict__:
            raise AttributeError(f"Unknown attribute {key}")
        object.__setattr__(self, key, value)

    def __getattr__(self, key):
        raise AttributeError(f"Unknown attribute {key}")

    def __repr__(self):
        flags = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()
                          if not k.startswith("_") and not callable(v))
        return f"<tracecomp.backends.{self._name}: {flags}>"


def flag_namespace(name, **flags):
    return FlagNamespace(name, **flags)
