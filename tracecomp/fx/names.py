"""Unique Python names for the values of an FX graph, given the way torch.fx gives them.

A candidate (a target's name, snake_cased; a placeholder's argument name) is made a legal
identifier, then kept if it is free; a name that would shadow a keyword, a builtin or a name
the generated code needs (`tracecomp`, `torch`, `inf`, ...) or that is taken gets the next
`_<n>` suffix for its base: `sum` becomes `sum_1`, a second `add` becomes `add_1`. Matching
torch's rule keeps node names (and so printed graphs and generated code) equal to torch's.
"""
import builtins
import keyword
import re

_NAME = re.compile(r"^([a-zA-Z_][0-9a-zA-Z_]*?)(?:_(\d+))?$")
_ILLEGAL_CHARS = re.compile("[^0-9a-zA-Z_]+")
_CAMEL = re.compile(r"(?<=[a-z])([A-Z])")

# names the generated code reads as globals; `torch` too, so names stay torch's
RESERVED = {k: object() for k in keyword.kwlist}
RESERVED.update(builtins.__dict__)
for _name in ("inf", "nan", "NoneType", "torch", "tracecomp", "device"):
    RESERVED[_name] = object()


def snake_case(s: str) -> str:
    """pascalCase -> pascal_case, ALL_CAPS -> all_caps (torch's rule for node names)."""
    return _CAMEL.sub(r"_\1", s).lower()


class Namespace:
    """The set of names used in one graph (or one generated function)."""

    def __init__(self):
        self._used = set()
        self._base_count = {}
        self._obj_to_name = {}

    def create_name(self, candidate: str, obj=None) -> str:
        if obj is not None and obj in self._obj_to_name:
            return self._obj_to_name[obj]
        match = _NAME.match(candidate)
        if match is None:
            candidate = _ILLEGAL_CHARS.sub("_", candidate) or "_unnamed"
            if candidate[0].isdigit():
                candidate = f"_{candidate}"
            match = _NAME.match(candidate)
        base, num = match.group(1, 2)
        if num is None or candidate in self._used:
            num = self._base_count.get(base, 0)
            if RESERVED.get(candidate, obj) is not obj:
                num += 1
                candidate = f"{base}_{num}"
        else:
            num = int(num)
        while candidate in self._used:
            num += 1
            candidate = f"{base}_{num}"
        self._used.add(candidate)
        self._base_count[base] = num
        if obj is not None:
            self._obj_to_name[obj] = candidate
        return candidate

    def associate(self, name, obj):
        self._obj_to_name[obj] = name
