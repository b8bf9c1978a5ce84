"""From a simplified graph to the runners of one compiled specialization (trace_call.build's
second half): where the user's outputs need gradients, autodiff makes the joint graph and
the partitioner splits it into the forward a call runs and the backward `loss.backward()`
runs (what the forward saves for it, what the backward recomputes: passes/partition.py);
each graph has its few compound primitives split into their parts (passes/decompose.py), is
simplified again and handed to the backend: the forward now, the backward when a backward
first runs it (lazy_backward.py)."""
import time

from ..debug_log import debug_level, emit
from ..dtypes import np_kind
from .lazy_backward import LazyBackward
from .pipeline import (
    PassRecord,
    decompose_pipeline,
    lowered,
    real_parts,
    run_passes,
    simplify_pipeline,
)
from .progress import stage


def lower(art, graph, n_outputs, bridged, compile_graph, memory_budget=None):
    """Fill art's runners from `graph`, whose first n_outputs outputs are the call's.
    bridged: whether gradients of them come back through loss.backward() (False when the
    code ran its backward itself, as a whole training step does)."""
    graphs, log_records = art.graphs, art.pass_log
    updates = written_back(art.effects, n_outputs)
    if not bridged or not any(o.requires_grad and np_kind(o.dtype) in "fc"
                              for o in graph.outputs[:n_outputs]):
        if memory_budget is not None:   # one graph (a whole step): recompute within it
            from ..passes import remat
            art.partition_log = []

            def rematerialize(graph):
                graph, log = remat.run(graph, memory_budget)
                art.partition_log += log
                return graph
            graph = run_passes(graph, [("remat", rematerialize)], "simplified", log_records)
        # merging repeated parts would also merge what remat recomputes on purpose
        graph = run_passes(graph, decompose_pipeline(merge=memory_budget is None),
                           "simplified", log_records)
        graph, edges = real_parts(graph, "simplified", log_records, memory_budget is None)
        graphs["forward.optimized"] = graph
        art.run_forward = lowered(compile_graph, graph, "forward", log_records, updates, edges)
        _keep_written_back(art, n_outputs)
        return _show_code(art)
    from ..passes import autodiff, partition
    stage("autodiff and partition")
    start = time.perf_counter()
    joint = autodiff.run(graph)
    log_records.append(PassRecord("autodiff", "simplified", graph.op_count(),
                                  joint.graph.op_count(), time.perf_counter() - start))
    graphs["joint"] = joint.graph
    start = time.perf_counter()
    split = partition.run(joint, memory_budget)
    log_records.append(PassRecord("partition", "joint", joint.graph.op_count(),
                                  split.forward.op_count() + split.backward.op_count(),
                                  time.perf_counter() - start))
    art.partition_log = split.log
    graphs["forward"], graphs["backward"] = split.forward, split.backward
    forward = run_passes(differentiated(split.forward),
                         decompose_pipeline() + simplify_pipeline(), "forward", log_records)
    backward = run_passes(differentiated(split.backward),
                          decompose_pipeline() + simplify_pipeline(), "backward", log_records)
    traced_outputs = forward.outputs        # as the caller sees them (complex ones too)
    forward, forward_edges = real_parts(forward, "forward", log_records)
    backward, backward_edges = real_parts(backward, "backward", log_records)
    graphs["forward.optimized"], graphs["backward.optimized"] = forward, backward
    emit(2, lambda: f"[tracecomp] forward graph:\n{forward}\n[tracecomp] backward graph:\n"
                     f"{backward}")
    art.run_forward = lowered(compile_graph, forward, "forward", log_records, updates,
                              forward_edges)
    _keep_written_back(art, n_outputs)
    first_saved = len(forward.outputs) - split.n_saved

    def compile_backward():
        runner = lowered(compile_graph, backward, "backward", log_records, edges=backward_edges)
        lodge = getattr(runner, "lodge_residuals", None)
        if lodge is not None:   # the forward may write its residuals into a gradient's buffer
            lodge(art.run_forward, first_saved)
        return runner
    art.run_backward = LazyBackward(compile_backward)     # on the first loss.backward()
    art.grad_inputs, art.grad_slots = joint.grad_inputs, joint.input_slots
    art.cotangent_slots = {k: slot for slot, k in enumerate(joint.cotangent_outputs)}
    outs = traced_outputs
    art.cotangent_specs = [(outs[k].shape, outs[k].dtype) for k in joint.cotangent_outputs]
    return _show_code(art)


def _keep_written_back(art, n_outputs):
    """The forward runner keeps reusable buffers for the outputs that effects write back
    (their tensors hold them between calls), however small (runner.keep_spares)."""
    keep = getattr(art.run_forward, "keep_spares", None)
    if keep is not None and art.n_effect_values:
        keep(range(n_outputs, n_outputs + art.n_effect_values))


def written_back(effects, first):
    """{output position: input position} of the outputs that compile_state.apply writes into
    an input's tensor (in-place updates: "data" effects), from output `first` on, where the
    effects' values start (a cleared .grad takes no output)."""
    updates, k = {}, first
    for e in effects:
        if e.kind == "data":
            updates[k] = e.target
        if e.has_value:
            k += 1
    return updates


def differentiated(graph):
    """A copy of graph with every requires_grad flag cleared: once autodiff has run, the
    flags mean nothing more, and clearing them lets the rewrites that must not mix values
    with and without gradients (CSE, permute(permute(x)) -> x) work across the old line.
    An input that required grad, a leaf whose gradient is computed (in the forward and in
    the backward of a partitioned graph, or in a whole step), is marked `trained` instead:
    an optimizer's update writes it after the call, and a backend may lay out its reads as
    that update's writes (parallel.k_first, backend._fused_rows)."""
    graph = graph.copy()
    for n in graph.inputs:
        if n.requires_grad:
            n.params["trained"] = True
    for n in graph.inputs + graph.nodes:
        n.requires_grad = False
    return graph


def backend_text(art, attr):
    """{graph: text} from the runners of an artifact, for backends that produce `attr`."""
    if art is None:
        return {}
    texts = {}
    for graph, runner in (("forward", art.run_forward), ("backward", art.run_backward)):
        value = getattr(runner, attr, None)
        if value:
            texts[graph] = "\n".join(value) if isinstance(value, list) else value
    return texts


def memory_text(art):
    """What a compile keeps in memory, for `tracecomp dump` (NN_memory.txt): the
    partitioner's choice (what the forward saves for the backward and what the backward
    recomputes), each graph's arena (the scratch values its memory plan packs) and which
    updated inputs it computes in place (passes/donation.py)."""
    if art is None:
        return None
    from ..passes.partition import describe
    lines = list(art.partition_log) or ["partition: none (nothing to differentiate here, or "
                                        "the code ran its backward itself)"]
    for graph, runner in (("forward", art.run_forward), ("backward", art.run_backward)):
        plan = getattr(runner, "memory_plan", None)
        if plan is not None:
            lines.append(f"{graph} arena: {plan.peak / 2**20:.2f} MB of scratch values "
                         f"({plan.unshared / 2**20:.2f} MB unshared)")
            for saved, (host, at) in plan.guests.items():
                lines.append(f"{graph}: {describe(saved)} lies in the buffer of output "
                             f"{describe(host)} at byte {at}, which is written over it, where "
                             f"the forward could put it there (runtime/lodging.py)")
            for saved, at in plan.arena_guests.items():
                lines.append(f"{graph}: {describe(saved)} lies in the arena at byte {at}, "
                             f"where the forward could put it there (runtime/lodging.py)")
        lines += getattr(runner, "donation_log", [])
    return "\n".join(lines)


def _show_code(art):
    """TRACECOMP_DEBUG 4, 5, 6: the backend's LLVM IR, optimized LLVM IR and assembly."""
    for level, attr in ((4, "llvm_ir"), (5, "optimized_ir"), (6, "asm")):
        if debug_level() >= level:
            for graph, text in backend_text(art, attr).items():
                emit(level, f"[tracecomp] {attr} of the {graph} graph:\n{text}")
    return art
