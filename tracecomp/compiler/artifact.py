"""One compiled specialization of a function (driver.build makes it, run_artifact.execute
runs it): its graphs and runners, and what each call writes back and checks besides them."""
from dataclasses import dataclass, field

from .deep_tensors import moved
from .outside_tensors import outside_unchanged


@dataclass
class Artifact:
    graphs: dict
    pass_log: list
    run_forward: object
    run_backward: object = None
    n_outputs: int = 0                  # the user's outputs and attribute writes (first)
    n_user_outputs: int = 0             # of which the user's result takes the first ones
    attribute_writes: list = field(default_factory=list)   # module attributes assigned
    effects: list = field(default_factory=list)    # writes replayed after a call, in order
    n_effect_values: int = 0            # forward outputs after the user's that effects take
    optimizers: list = field(default_factory=list)
    grad_inputs: list = field(default_factory=list)  # input positions that get gradients
    grad_slots: list = None     # per grad input, the cotangent slots it feeds (autodiff.py)
    cotangent_slots: dict = field(default_factory=dict)   # output index -> cotangent slot
    cotangent_specs: list = field(default_factory=list)   # (shape, dtype) per cotangent slot
    out_structure: object = None
    out_statics: list = field(default_factory=list)
    captured: list = field(default_factory=list)    # tensors reached from outside the args
    unread_state: list = field(default_factory=list)    # labels of state inputs never used
    bound: tuple = ()       # labels of the tensors fed from fn's own names (bound_tensors.py)
    n_state: int = None     # state entries read, when the .grad tail is dropped (GradWatch)
    partition_log: list = field(default_factory=list)   # what the backward saves, recomputes
    eager: bool = False         # runs eagerly: fallback='eager', or a graph break (split)
    split: bool = False         # a graph break: its module calls run compiled (graph_break.py)
    unread_grads: tuple = ()            # positions of .grad inputs the graph never reads
    outside: tuple = None       # what must stay unchanged (outside_tensors.outside_reads)
    deferred: list = field(default_factory=list)    # schedulers stepped after a call
    reads: object = None       # value_reads.Guards: Python values read besides the arguments
    kept: list = field(default_factory=list)    # kept_values.Kept: tensors stored outside
    held: list = field(default_factory=list)    # the way to where it lifts tensors from
    fed_outside: bool = False   # fed numbers read from outside (outside_numbers.py)
    conditions: object = None   # tracing.number.Conditions: checked before each call
    served: bool = False    # runs a dynamic graph compiled for other sizes (cached apart)

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
