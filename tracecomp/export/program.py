"""ExportedProgram, what torch.export.export returns: the exported IR graph, its signature,
the module's tensors, the input and output specs, and the dims that may change; and the
module that runs it (`ep.module()`).

The graph runs by replaying its nodes through the primitive dispatcher (`replay`): eagerly
that is the eager ops, with autograd; under tracecomp.compile it is a trace of the same
graph, so `ep.module()` runs the graph as one compiled function of (parameters, buffers,
user tensors). A call of a shape seen before runs the compiled code without a trace; a new
size of a dynamic dim is traced and runs the dynamic graph compiled for the first (the
dims are marked dynamic for the compiler, compiler/dynamic.py), compiling nothing."""
from .. import dispatch
from ..grad_mode import no_grad
from ..ir import CONSTANT, Node
from ..nn.module import Module
from ..symbolic import Domain, generated, value_at
from ..tensor import Tensor
from . import tree
from .capture import BUFFER, PARAMETER
from .dims import Guards, Symbol, ValueRanges
from .graph_signature import InputKind, OutputKind

# what _mark sets on a tensor: the marked dims (torch's) and the symbol of each
_MARKS = ("_dynamo_dynamic_indices", "_tracecomp_dim_symbols")


def replay(graph, sizes, tensors):
    """graph's outputs computed from tensors (one per graph input) at `sizes` (one per
    symbol of a dynamic graph; () for a static one)."""
    env = dict(zip(graph.inputs, tensors))
    for node in graph.nodes:
        if node.op == CONSTANT:
            value = node.params.get("value")
            if value is None:           # a dynamic graph's constant is described, not held
                value = generated(node.params, value_at(node.shape, sizes), node.dtype)
            env[node] = Tensor._make(value)
            continue
        operands = [env[i] if isinstance(i, Node) else value_at(i, sizes) for i in node.inputs]
        env[node] = dispatch.bind(node.prim, *operands, **value_at(node.params, sizes))
    return [env[o] for o in graph.outputs]


class ExportedProgram:
    """torch.export.ExportedProgram. `graph` is tracecomp's IR (one line per node; dims of
    a dynamic graph print as its symbols s, or s0, s1, ...), not an FX graph."""

    def __init__(self, graph, state, in_spec, out_spec, mutated, symbols, user_names,
                 example_inputs=None):
        # state: [(kind, target, tensor, persistent)]; symbols: [(Dim, [(user k, dim)], low)]
        self._graph, self._state, self._mutated = graph, state, mutated
        self._in_spec, self._out_spec, self._symbols = in_spec, out_spec, symbols
        self._user_names, self.example_inputs = user_names, example_inputs
        users = graph.inputs[len(state):]
        specs = []
        for k, node in enumerate(users):
            dims = list(node.shape)
            for s, (_, places, _) in enumerate(symbols):
                for j, d in places:
                    if j == k:
                        dims[d] = [s]
            specs.append((node.dtype.name, dims))
        self._guards = Guards(user_names, specs, [(dim.__name__, low, dim.max)
                                                  for dim, _, low in symbols])
        self._compiled = None

    # --- what torch's ExportedProgram shows ---------------------------------------------------
    @property
    def graph(self):
        return self._graph

    @property
    def graph_module(self):
        return GraphModule(self)

    @property
    def graph_signature(self):
        from .graph_signature import ExportGraphSignature, InputSpec, OutputSpec, TensorArgument
        inputs = [InputSpec(InputKind[kind], TensorArgument(node.name), target, persistent)
                  for (kind, target, _, persistent), node in zip(self._state,
                                                                 self._graph.inputs)]
        inputs += [InputSpec(InputKind.USER_INPUT, TensorArgument(node.name), None)
                   for node in self._graph.inputs[len(self._state):]]
        names = self._output_names()
        n_user = len(names) - len(self._mutated)
        outputs = [OutputSpec(OutputKind.USER_OUTPUT, TensorArgument(n), None)
                   for n in names[:n_user]]
        outputs += [OutputSpec(OutputKind.BUFFER_MUTATION, TensorArgument(n), target)
                    for n, target in zip(names[n_user:], self._mutated)]
        return ExportGraphSignature(inputs, outputs)

    def _output_names(self):
        from ..ir import node_names
        names = node_names(self._graph)
        return [names[o] for o in self._graph.outputs]

    @property
    def state_dict(self):
        """Parameters and persistent buffers by state_dict name (the module's own tensors)."""
        return {target: t for kind, target, t, persistent in self._state
                if kind == PARAMETER or persistent}

    @property
    def constants(self):
        """The non-persistent buffers (torch keeps them here, out of state_dict)."""
        return {target: t for kind, target, t, persistent in self._state
                if kind == BUFFER and not persistent}

    def named_parameters(self):
        yield from ((target, t) for kind, target, t, _ in self._state if kind == PARAMETER)

    def parameters(self):
        yield from (t for _, t in self.named_parameters())

    def named_buffers(self):
        yield from ((target, t) for kind, target, t, _ in self._state if kind == BUFFER)

    def buffers(self):
        yield from (t for _, t in self.named_buffers())

    @property
    def range_constraints(self):
        """{symbol: ValueRanges} of each dynamic dim's symbol, as torch's (`s0: VR[2, 64]`):
        the least size served (the Dim's min, at least 2) and the Dim's max."""
        names = self._graph_symbols()
        return {Symbol(name): ValueRanges(low, dim.max)
                for name, (dim, _, low) in zip(names, self._symbols)}

    @property
    def call_spec(self):
        from collections import namedtuple
        return namedtuple("CallSpec", ["in_spec", "out_spec"])(
            tree.describe(self._in_spec), tree.describe(self._out_spec))

    def __str__(self):
        graph = "\n".join("    " + line for line in str(self._graph).splitlines())
        signature = "\n".join("    " + line for line in
                              str(self.graph_signature).splitlines())
        ranges = ", ".join(f"{k}: {v}" for k, v in self.range_constraints.items())
        return (f"ExportedProgram:\n{graph}\nGraph signature:\n{signature}\n"
                f"Range constraints: {{{ranges}}}\n")

    def _graph_symbols(self):
        """The names the graph prints its symbols by (s, or s0, s1, ...)."""
        return Domain((2,) * len(self._symbols)).names()

    __repr__ = __str__

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Unable to call ExportedProgram directly. You should use "
                           "`exported_program.module()` instead.")

    # --- running it -----------------------------------------------------------------------
    def module(self):
        """An nn.Module that runs the exported graph; its parameters and buffers are this
        program's (the exported module's own tensors, as in torch)."""
        return ExportedModule(self)

    def run_decompositions(self, decomp_table=None):
        """The program with the primitives that are one node for autograd (softmax,
        log_softmax, the losses) written as their parts, as torch lowers to its core ATen
        set; gradients flow through the parts as through the node."""
        if decomp_table is not None and decomp_table != {}:
            raise NotImplementedError("run_decompositions: tracecomp decomposes by its own "
                                      "rules (passes/decompose.py); a decomp_table is not "
                                      "supported")
        from ..passes import decompose  # the compiler's passes load on first use
        graph = decompose.run(self._graph, keep_gradients=True)
        return ExportedProgram(graph, self._state, self._in_spec, self._out_spec,
                               self._mutated, self._symbols, self._user_names,
                               self.example_inputs)

    def _runner(self):
        """The compiled function of (state tensors, user tensors) -> graph outputs."""
        if self._compiled is None:
            from ..compiler.api import compile
            graph, n_state = self._graph, len(self._state)
            first = [(n_state + places[0][0], places[0][1]) for _, places, _ in self._symbols]

            def exported_graph(*tensors):
                return replay(graph, tuple(tensors[k].shape[d] for k, d in first), tensors)
            self._compiled = compile(exported_graph)
        return self._compiled

    def _run(self, state_tensors, args, kwargs):
        user, spec = tree.flatten((args, kwargs))
        why = tree.mismatch(self._in_spec, spec)
        if why is not None:
            raise ValueError(why)
        self._guards.check(user)
        marked = self._mark(user)
        try:
            outs = self._runner()(*state_tensors, *user)
        finally:
            for t, before in reversed(marked):     # a tensor marked twice: its first state
                for name, value in zip(_MARKS, before):
                    if value is None:
                        delattr(t, name)
                    else:
                        setattr(t, name, value)
        n_user = len(outs) - len(self._mutated)
        return outs[:n_user], outs[n_user:]

    def _mark(self, user):
        """Marks the dynamic dims for the compiler (torch._dynamo.mark_dynamic), each with
        its symbol's index (dims of two Dims are two symbols even at one size), to be undone
        after the call: [(tensor, its marks before, None where it had none)]."""
        marked = []
        for s, (_, places, _) in enumerate(self._symbols):
            for k, d in places:
                t = user[k]
                before = tuple(getattr(t, name, None) for name in _MARKS)
                marked.append((t, tuple(None if b is None else type(b)(b) for b in before)))
                t._dynamo_dynamic_indices = (before[0] or set()) | {d}
                t._tracecomp_dim_symbols = {**(before[1] or {}), d: s}
        return marked


class ExportedModule(Module):
    """ep.module(): the exported program as a module. Its submodules are made only to hold
    the parameters and buffers at their state_dict names (`fc.weight`); its forward checks
    the inputs against the exported specs and guards and runs the graph."""

    def __init__(self, program):
        super().__init__()
        object.__setattr__(self, "_program", program)
        places = []
        for kind, target, t, persistent in program._state:
            owner, name = self, target
            while "." in name:
                head, name = name.split(".", 1)
                if head not in owner._modules:
                    owner.add_module(head, Module())
                owner = owner._modules[head]
            if kind == PARAMETER:
                owner.register_parameter(name, t)
            else:
                owner.register_buffer(name, t, persistent=persistent)
            places.append((owner._parameters if kind == PARAMETER else owner._buffers, name))
        object.__setattr__(self, "_places", places)
        object.__setattr__(self, "_mutated_places", [
            places[[target for _, target, _, _ in program._state].index(m)]
            for m in program._mutated])

    def train(self, mode=True):
        """Refused, as torch's: the graph holds the mode it was exported in (dropout drawn
        or not, batch or running statistics), so switching it would change nothing."""
        raise NotImplementedError("Calling train() is not supported yet.")

    def eval(self):
        raise NotImplementedError("Calling eval() is not supported yet.")

    def forward(self, *args, **kwargs):
        state = [table[name] for table, name in self._places]
        outs, updates = self._program._run(state, args, kwargs)
        if updates:
            with no_grad():
                for (table, name), new in zip(self._mutated_places, updates):
                    table[name].copy_(new)
        return tree.unflatten(self._program._out_spec, outs)


class GraphModule(Module):
    """ep.graph_module: the graph as a module of its flat inputs (parameters, buffers, then
    the user's tensors) returning its flat outputs (the user's, then the buffers' new
    values); `.graph` is the IR graph."""

    def __init__(self, program):
        super().__init__()
        object.__setattr__(self, "_program", program)
        object.__setattr__(self, "graph", program._graph)

    def forward(self, *flat):
        program, n = self._program, len(self._program._state)
        sizes = tuple(flat[n + places[0][0]].shape[places[0][1]]
                      for _, places, _ in program._symbols)
        return tuple(replay(self.graph, sizes, flat))

    def __repr__(self):
        return f"GraphModule:\n{self.graph}"

    def print_readable(self, print_output=True):
        text = str(self.graph)
        if print_output:
            print(text)
        return text
