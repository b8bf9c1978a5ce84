"""Which submodules a model's constructor made, so that `tracecomp.save(model)` of a model
changed after construction (`net.fc = nn.Linear(512, 10)`, `vgg.classifier[6] = ...`,
`layers.append(...)`) saves the changes, and loading rebuilds them.

A whole module is saved as its class, its constructor arguments and its state_dict
(saved_module.py): loading calls the constructor again, which makes the submodules the
constructor makes. When a program's outermost module constructor returns (nested ones,
children built inside, are part of it), every module of the new tree that has no record
yet records its children as built, by weak reference (no replaced child is kept alive).
A later difference is a change: a child set, replaced or deleted, found by `changed`.
A pickled module (a spawned process's argument, torch.save by pickle elsewhere) carries
its record by name instead (weak references do not pickle): record_state / restore_record.
"""
import functools
import weakref

_building = [0]         # module constructors running now (nested calls included)


def count_constructions(cls):
    """Wrap cls.__init__ (when cls defines one) so the outermost constructor records the
    tree it built, once it returns."""
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_records_as_built", False):
        return

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        _building[0] += 1
        try:
            init(self, *args, **kwargs)
        finally:
            _building[0] -= 1
        if not _building[0]:
            record(self)
    __init__._records_as_built = True
    cls.__init__ = __init__


_NO_CHILDREN = {}      # the record of every module built without children (never written)


def record(root):
    """Each module under root without a record takes its children now as its built ones
    (a module built earlier and passed in keeps its own record: its changes before it was
    passed are changes too)."""
    d = root.__dict__
    if "_as_built" in d:
        return
    children = d["_modules"]
    if not children:        # a leaf layer (nn.Softmax(dim=1)(x) builds one per call)
        object.__setattr__(root, "_as_built", _NO_CHILDREN)
        return
    object.__setattr__(root, "_as_built", {name: weakref.ref(child) for name, child
                                           in children.items() if child is not None})
    for child in children.values():
        if child is not None:
            record(child)


def changed(module):
    """[(name, child or None)] of module's children that differ from those its constructor
    built: set or replaced (the child), deleted (None). Empty for a module never recorded
    (built with no constructor of its own): nothing to compare with."""
    built = module.__dict__.get("_as_built")
    if built is None:
        return []
    out = [(name, child) for name, child in module._modules.items()
           if child is not None and (name not in built or built[name]() is not child)]
    out += [(name, None) for name in built if module._modules.get(name) is None]
    return out


def copy_record(module, new, memo):
    """copy.deepcopy: the copy's record names the copies of the children module's names."""
    built = module.__dict__.get("_as_built")
    if built is not None:
        object.__setattr__(new, "_as_built", {
            name: weakref.ref(memo[id(ref())]) for name, ref in built.items()
            if ref() is not None and id(ref()) in memo})


def _gone():
    """What the record holds for a built child the module no longer has (replaced or
    deleted): the answer of a dead weak reference."""
    return None


def record_state(module):
    """The record, picklable: {name: whether the built child is still module's child}, or
    None for a module never recorded."""
    built = module.__dict__.get("_as_built")
    if built is None:
        return None
    return {name: ref() is not None and module._modules.get(name) is ref()
            for name, ref in built.items()}


def restore_record(module, state):
    """Unpickling: the record again from record_state's, over module's unpickled children."""
    if state is None:
        return
    record = {name: weakref.ref(module._modules[name]) if same else _gone
              for name, same in state.items()} if state else _NO_CHILDREN
    object.__setattr__(module, "_as_built", record)
