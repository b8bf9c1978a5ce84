"""torch._logging.set_logs: torch's names for what its compiler logs, each shown here by
the TRACECOMP_DEBUG level (debug_log.py) that logs the same stage of tracecomp's compiler.

    tracecomp._logging.set_logs(recompiles=True)    # as TRACECOMP_DEBUG=1
    tracecomp._logging.set_logs(output_code=True)   # the LLVM IR, as TRACECOMP_DEBUG=4
    tracecomp._logging.set_logs()                   # back to none

As torch's TORCH_LOGS does, the TRACECOMP_DEBUG environment variable, when set, takes
precedence: set_logs then changes nothing. torch's names for what tracecomp has no
counterpart of (distributed collectives, CUDA graphs, autotuning, bytecode...) are accepted
and log nothing; any other name is a TypeError, as for torch's function.
"""
import logging

from . import debug_log

# an artifact torch logs -> the TRACECOMP_DEBUG level that logs our counterpart
ARTIFACTS = {
    # compile events and why a call compiled again
    "recompiles": 1, "recompiles_verbose": 1, "guards": 1, "graph_breaks": 1,
    "graph_sizes": 1,
    # the traced graph, and the forward and backward graphs compiled
    "graph": 2, "graph_code": 2, "graph_code_verbose": 2, "aot_graphs": 2,
    "aot_joint_graph": 2, "pre_grad_graphs": 2, "post_grad_graphs": 2,
    # the graph after every pass (fusion and scheduling among them)
    "ir_pre_fusion": 3, "ir_post_fusion": 3, "fusion": 3, "schedule": 3,
    # the code generated
    "output_code": 4, "kernel_code": 4,
}
# a component torch logs at a logging level -> our level at INFO, and at DEBUG
COMPONENTS = {"all": (1, 6), "dynamo": (1, 2), "aot": (2, 2), "inductor": (1, 4),
              "dynamic": (1, 1)}
NO_COUNTERPART = frozenset((
    "autograd", "distributed", "c10d", "ddp", "fsdp", "dtensor", "onnx", "export", "modules",
    "bytecode", "ddp_graphs", "side_effects", "trace_source", "trace_call", "trace_bytecode",
    "perf_hints", "onnx_diagnostics", "overlap", "cudagraphs", "sym_node",
    "compiled_autograd", "compiled_autograd_verbose", "cudagraph_static_inputs",
    "benchmarking", "autotuning", "incremental", "graph_region_expansion", "inductor_metrics",
    "hierarchical_compile", "compute_dependencies", "caching"))


def set_logs(**settings):
    """Turn on the compile logs torch's keywords name (artifacts True, components at a
    logging level); with none, turn them off. See the module docstring."""
    for name in settings:
        if name not in ARTIFACTS and name not in COMPONENTS and name not in NO_COUNTERPART:
            raise TypeError(f"set_logs() got an unexpected keyword argument '{name}'")
    level = 0
    for name, value in settings.items():
        if name in COMPONENTS and value is not None:
            events, detail = COMPONENTS[name]
            level = max(level, detail if value <= logging.DEBUG else
                        events if value <= logging.INFO else 0)
        elif name in ARTIFACTS and value:
            level = max(level, ARTIFACTS[name])
    debug_log.set_level(level or None)
