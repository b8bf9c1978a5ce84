"""One compiled specialization of a function (trace_call.build makes it, run_artifact.execute
runs it): its graphs and runners, and what each call writes back and checks besides them."""
from .deep_tensors import moved
from .outside_tensors import outside_unchanged


class Artifact:
    # a plain class, not a dataclass: a dataclass of this many fields costs ~1-2 ms to
    # define, on the import that a compiled call's first run from the disk cache pays. Each
    # field but the first three is a class attribute holding its default until __init__
    # sets it; FRESH names those whose default is a new empty list or dict per artifact.
    run_backward = None
    n_outputs = 0                   # the user's outputs and attribute writes (first)
    n_user_outputs = 0              # of which the user's result takes the first ones
    attribute_writes = None         # list: module attributes assigned
    effects = None                  # list: writes replayed after a call, in order
    n_effect_values = 0             # forward outputs after the user's that effects take
    optimizers = None               # list
    grad_inputs = None              # list: input positions that get gradients
    grad_slots = None       # per grad input, the cotangent slots it feeds (autodiff.py)
    cotangent_slots = None          # dict: output index -> cotangent slot
    cotangent_specs = None          # list: (shape, dtype) per cotangent slot
    out_structure = None
    out_statics = None              # list
    captured = None                 # list: tensors reached from outside the args
    unread_state = None             # list: labels of state inputs never used
    bound = ()      # labels of the tensors fed from fn's own names (bound_tensors.py)
    n_state = None  # state entries read, when the .grad tail is dropped (GradWatch)
    partition_log = None            # list: what the backward saves, recomputes
    eager = False       # runs eagerly: fallback='eager', or a graph break (split)
    split = False       # a graph break: its module calls run compiled (graph_break.py)
    unread_grads = ()               # positions of .grad inputs the graph never reads
    outside = None      # what must stay unchanged (outside_tensors.outside_reads)
    deferred = None                 # list: schedulers stepped after a call
    reads = None        # value_reads.Guards: Python values read besides the arguments
    kept = None                     # list of kept_values.Kept: tensors stored outside
    held = None                     # list: the way to where it lifts tensors from
    fed_outside = False     # fed numbers read from outside (outside_numbers.py)
    conditions = None       # tracing.number.Conditions: checked before each call
    served = False  # runs a dynamic graph compiled for other sizes (cached apart)
    output_calls = ()   # list: what its print() and logging calls write each call
    signals = None      # sync_calls.Signals: Event.set/clear made again after each call

    FRESH = {"attribute_writes": list, "effects": list, "optimizers": list,
             "grad_inputs": list, "cotangent_slots": dict, "cotangent_specs": list,
             "out_statics": list, "captured": list, "unread_state": list,
             "partition_log": list, "deferred": list, "kept": list, "held": list}

    def __init__(self, graphs, pass_log, run_forward, **fields):
        self.graphs, self.pass_log, self.run_forward = graphs, pass_log, run_forward
        for name, make in self.FRESH.items():
            setattr(self, name, make())
        for name, value in fields.items():
            if not hasattr(Artifact, name) or name == "FRESH" or callable(
                    getattr(Artifact, name)):
                raise TypeError(f"Artifact has no field {name!r}")
            setattr(self, name, value)

    def grad_free(self, plain):
        """`plain`, the call's signature without .grad tensors, where this serves whatever
        they hold (its graph never read them, or it runs eagerly: a graph break)."""
        return plain if self.n_state is not None or self.split else None

    def stale(self):
        """Why this no longer holds (a constant it holds changed), or None."""
        if self.outside is not None and not outside_unchanged(self.outside):
            return ("a tensor it reads from outside its arguments and modules changed (pass "
                    "tensors that change as arguments)")
        if self.reads is not None and not self.reads.hold():
            return self.reads.changed()
        return moved(self.held) if self.held else None
