"""Tracing one call of a compiled function into an Artifact (driver.py decides when):
the arguments, parameters and buffers become graph inputs, the function runs once on
their stand-ins under every watch that keeps a trace honest (random streams, clocks,
stores outside, values read from outside, fed numbers and arrays), and the graph it
records is simplified and lowered (lowering.py) through the backend, or a dynamic graph
compiled before (dynamic.py).
"""
import time

from ..codegen import registry as backends
from ..debug_log import emit
from ..ir import Graph
from ..tracing import number_functions
from ..tracing.gate import GATE
from ..tracing.tracer import Tracer, wrap
from . import attributes as compile_attributes
from . import grad_inputs, kept_values, lowering, state_walk
from . import state as compile_state
from .array_args import ArrayRead, ArrayTrace
from .artifact import Artifact
from .bound_tensors import BoundRead, is_lifted
from .clock_reads import ClockWatch
from .code_names import Bindings
from .deep_tensors import DeepRead, links
from .hyperparameters import NumberRead, Tracing
from .kept_values import KeptWatch
from .number_args import ArgumentRead
from .object_stores import StoreWatch
from .output_calls import OutputWatch
from .outside_numbers import CallChanges, StandIns
from .outside_streams import PythonRandom, numpy_streams
from .outside_tensors import outside_reads
from .pipeline import PassRecord, run_passes, simplify_pipeline
from .ran_functions import RanFunctions
from .result_objects import refuse_traced_statics
from .scheduler_steps import Deferral, reach
from .signature import alias_pattern, flatten, label_text, refuse_aliased_writes, state_arguments
from .sync_calls import SyncWatch, signals
from .value_reads import ReadWatch, plain_reach


def build(fn, call_args, tensors, state, module_names, backend, optimizers=(), roots=(),
          memory_budget=None, templates=None, fed_numbers=(), deep=None, outside=None,
          fed_arrays=()):
    """Trace fn(*call_args) with every tensor in `tensors + state` as a graph input;
    `roots`: the modules it uses (it may assign their attributes); then compile it
    (lowering.py). fed_numbers: [(label, value)] of the number arguments fed as inputs,
    the last of `tensors` (number_args.py). deep: its deep_tensors.Places, or None;
    outside: its OutsideNumbers (None: numbers it changes itself are not fed at once);
    fed_arrays: [(label, array)] of the numpy array arguments fed as inputs, the tensors
    before the fed numbers' (array_args.py)."""
    log_records, graphs = [], {}
    standing = StandIns(state, fed_numbers, len(tensors))   # and numbers read from outside
    numbers = standing.numbers
    arrays = ArrayTrace(fed_arrays, len(tensors) - len(fed_numbers) - len(fed_arrays)) \
        if fed_arrays else None
    tracer = Tracer(Graph("traced"), module_names)
    tracer.bf16_backend = backend != "cuda"
    tracer.optimizers = list(optimizers)     # the step of any other one is refused
    fed, deferral = Tracing(state, optimizers), Deferral()   # hyperparameters, schedulers
    tracer.settings, tracer.defer_scheduler = fed.inputs, deferral.defer
    trace_start = time.perf_counter()
    every = tensors + state
    bound = tuple(label for label, _ in state if is_lifted(label))
    lifted_ids = {id(t) for label, t in state if is_lifted(label)}
    # held until every swapped tensor is restored: no compiled call in another
    # thread reads a graph value in place of its data (tracing/gate.py)
    with GATE:
        originals = [t._data for _, t in every]
        snapshot = names_before = None
        undo = kept_values.Undo()   # a failed trace's stores undone (kept() does it else)
        standing.put()
        attributes = compile_attributes.AttributeSnapshot(roots)
        tensor_attributes = compile_attributes.TensorAttributes(state)
        try:
            with tracer, fed, deferral, undo:
                nodes = [tracer.input(label_text(label), t) for label, t in every]
                for (_, t), node in zip(state, nodes[len(tensors):]):
                    if t._node is not None:     # (a closure's `x = leaf.float()`)
                        tracer.outside_history.add(node)
                    t._data = node          # parameters and buffers read their graph inputs
                stand_ins = [wrap(n, t._requires_grad) for (_, t), n in zip(tensors, nodes)]
                aliases = alias_pattern([t for _, t in tensors])
                if aliases is not None:     # f(x, x): one stand-in, as it is one tensor
                    stand_ins = [stand_ins[j] if same else s
                                 for s, (j, same) in zip(stand_ins, aliases)]
                owned = state_arguments(tensors, state)
                if owned is not None:   # step(model.weight): the parameter itself, as eagerly
                    stand_ins = [s if j is None else state[j][1]
                                 for s, j in zip(stand_ins, owned)]
                for s, (_, t), node in zip(stand_ins, tensors, nodes):
                    if t._node is not None:     # its history lies outside the graph
                        tracer.outside_history.add(node)
                    s.grad = t.grad         # an argument's .grad (an input too, when it exists)
                    # and its hooks, which a traced backward refuses (tracing/backward.py)
                    s._hooks, s._post_accumulate_hooks = t._hooks, t._post_accumulate_hooks
                holders = stand_ins + [t for _, t in state]
                tracer.holders.update(zip(nodes, holders))
                snapshot = compile_state.Snapshot(holders, list(optimizers), outside)
                n = len(stand_ins) - len(fed_numbers)
                m = n - len(fed_arrays)
                proxies = arrays.stand_ins(stand_ins[m:n]) if arrays else ()
                if numbers is None:
                    args = call_args(stand_ins[:m], (), proxies)
                else:
                    args = call_args(stand_ins[:m], numbers.stand_ins(
                        stand_ins[n:], range(n, len(tensors))), proxies)
                reached = kept_values.places(fn, args[0], roots, args[1])   # what it reaches
                names_before = Bindings(fn) if getattr(fn, "__code__", None) else None
                stores = undo.watch = KeptWatch(reached, stand_ins, [t for _, t in state])
                streams = numpy_streams(fn, roots, reached)
                plain, plain_objects = plain_reach(reached)
                # and the containers the user's objects hold, PLAIN_DEPTH deep (a dict in
                # cfg.train.log: its stores replayed, as the attributes of those objects)
                stores.add([(("plain",), x) for x in plain_objects])
                undo.stores = StoreWatch(plain, plain_objects)
                ran = RanFunctions(fn, roots, stores, names_before)     # found by no name
                with grad_inputs.GradWatch() as watch, PythonRandom(streams) as drawn, \
                        ClockWatch(drawn.called, ran.called), \
                        ReadWatch(plain, attributes, fn, roots) as values, undo.stores, \
                        number_functions.patched(), OutputWatch() as output, SyncWatch() as sync:
                    try:
                        result = fn(*args[0], **args[1])
                    except (NumberRead, ArgumentRead, ArrayRead):
                        raise
                    except Exception as exc:    # feeding is never why a trace fails
                        if bound:
                            raise BoundRead() from exc
                        if arrays is not None:
                            raise arrays.failed() from exc
                        if numbers is None:
                            raise
                        raise numbers.failed() from exc
                watch.check_outside(holders, tracer)
                ran = ran.functions()
                out_tensors, out_statics, out_structure = flatten(result, objects=True)
                refuse_traced_statics(out_statics)
                statics = [v for _, v in out_statics]
                fed.check(statics)
                deferral.check(statics)
                conditions = None if numbers is None else numbers.check(statics, tracer.graph)
                deferred = [reach(fn, args[0], s) for s in deferral.deferred]
                outputs = [tracer.lift(t) for _, t in out_tensors]
                n_user = len(outputs)
                writes, written = attributes.writes(tracer)
                outputs += written
                # numbers it read and changes itself (its stores are still in place)
                changes = {} if outside is None else outside.changed(
                    values.number_guards(), optimizers)
                undo.stores.check(fn, stores)   # stores on objects no call replays: refused
                kept = stores.kept()        # stored outside: replayed after each call
                if names_before is not None:    # names it assigns, replayed the same way
                    kept += stores.rebound(names_before.rebound())
                outputs += [tracer.lift(t) for _, t in kept if t is not None]
                effects, effect_values = snapshot.effects(tracer, nodes)
                if arrays is not None:  # read, returned or written: compiled in instead
                    arrays.check(out_statics, effects)
                changes.update(snapshot.moved)      # counts in optimizer state it moves
                effects += compile_state.arguments_made_leaves(stand_ins, tensors, nodes)
                if aliases is not None:
                    refuse_aliased_writes(aliases, tensors, effects)
                if deep is not None and (new := deep.new(fn, args[0], tracer.read_outside)):
                    # read as constants where it can lift them: lift, trace again (before
                    # check_rebound: an update of such a tensor, a scratch optimizer's state
                    # in a closure's tuple, is then an input's, written back)
                    raise DeepRead(new)
                compile_state.check_rebound(tracer, holders, effect_values)
                tensor_attributes.check(label_text)
                # (an argument's update is its stand-in's, named as the argument)
                compile_state.settle_updated_leaves(
                    tracer, [(label, h) for (label, _), h in zip(every, holders)])
                if names_before is not None:    # the guards see the names as they were
                    names_before.restore()
                reads = values.guards(fn, roots, kept_values.appended_only(
                    kept, [*args[0], *args[1].values()]),
                    [k.holder for k, _ in kept if k.how == "attr"], ran)
        finally:
            for (_, t), data in zip(every, originals):
                t._data = data
            for t, data in tracer.rebound:
                t._data = data
            if snapshot is not None:
                snapshot.restore()
            attributes.restore()
            tensor_attributes.restore()
            if names_before is not None:
                names_before.restore()
            standing.restore()
    compile_state.refuse_kept_traced(fn, args[0], stand_ins)
    if changes:     # the next call would compile again for them: feed them, trace again
        raise CallChanges(changes)
    graph = tracer.graph
    graph.outputs = outputs + effect_values
    unread = state_walk.unused_labels(graph, nodes[len(tensors):], state)
    n_state = None if watch.touched else grad_inputs.drop_grad_inputs(
        graph, nodes, len(tensors), state)
    captured = [t for t, _ in tracer.captured]
    graphs["traced"] = graph.copy()
    log_records.append(PassRecord("trace", "traced", 0, graph.op_count(),
                                  time.perf_counter() - trace_start))
    emit(2, lambda: f"[tracecomp] traced graph:\n{graph}")
    if tracer.did_backward:         # differentiated already: no gradient flags to keep
        graph = lowering.differentiated(graph)
    graph = run_passes(graph, simplify_pipeline(), "traced", log_records)
    graphs["simplified"] = graph
    art = Artifact(graphs, log_records, None, n_outputs=len(outputs), n_user_outputs=n_user,
                   attribute_writes=writes, effects=effects, n_effect_values=len(effect_values),
                   optimizers=list(optimizers), out_structure=out_structure,
                   out_statics=[v for _, v in out_statics], captured=captured,
                   n_state=n_state, bound=bound, deferred=deferred,
                   outside=outside_reads(fn, tracer, lifted_ids, (*args[0], *args[1].values()),
                                         roots, ran),
                   reads=reads, fed_outside=bool(standing.fed), conditions=conditions,
                   kept=[k for k, _ in kept], unread_state=unread, held=links(fn, state)[0],
                   output_calls=output.calls, signals=signals(sync))
    # a backward traced inside the code (a whole training step) leaves nothing to bridge
    compile_graph = backends.get(backend)
    if templates is not None:       # dynamic shapes: a graph of known structure, new sizes
        compile_graph = templates.compiler(compile_graph)
    art = lowering.lower(art, graph, len(outputs), not tracer.did_backward, compile_graph,
                         memory_budget)
    if effects and n_state is None:
        art.unread_grads = grad_inputs.unread_grad_inputs(
            art.graphs["forward.optimized"], len(tensors), state, effects)
    return art


# --- the user-facing wrappers --------------------------------------------------------------
