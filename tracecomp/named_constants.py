"""torch's named constants (torch.channels_last, torch.strided, ...): instances compared by
identity, printed as torch prints them, and pickled back to the same instance."""


class NamedConstant:
    """One constant of a family (a subclass): each subclass keeps its own instances by name."""

    __slots__ = ("name",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.INSTANCES = {}

    def __init__(self, name):
        self.name = name
        type(self).INSTANCES[name] = self

    def __repr__(self):
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_named, (type(self), self.name))


def _named(family, name):
    return family.INSTANCES[name]
