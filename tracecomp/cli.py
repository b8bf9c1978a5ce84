"""The `tracecomp` command. Five subcommands:

    tracecomp dump examples/mlp.py:MLP --input 64x784 [--out DIR] [--backend llvm|interp]
    tracecomp bench [--quick] [--only mlp,gelu] [--json PATH] [--png PATH]   (tracecomp.bench)
    tracecomp support [--write]     what of torch's API tracecomp supports (support_table.py)
    tracecomp doctor                what this machine gives the compiler (doctor.py)
    tracecomp run -n N [--hostfile FILE] script.py [args]   N ranks under mpiexec
                                    (tracecomp.distributed, distributed/mpi_launch.py)

`dump` loads TARGET (`file.py:Name`: an nn.Module class built with no arguments, a module
instance, or a function), compiles it with `tracecomp.compile`, runs it once on random
example inputs (and, when the output needs a gradient, runs `.sum().backward()` so the
backward graph is built too), then writes every stage the compile went through:

    NN_<stage>.txt    the IR text of each graph, in pipeline order (from `compiled.graphs`)
    NN_<stage>.dot    its picture as Graphviz DOT, and .svg: drawn by Graphviz where it is
                      installed, else laid out by tracecomp.picture with matplotlib
    NN_memory.txt     what the forward saves for the backward, what the backward recomputes
                      (passes/partition.py), and each graph's arena of scratch values
    NN_<kind>.ll/.s   LLVM IR and assembly, when the backend exposes `.llvm_ir` / `.asm`
    NN_cuda_source.*.py  the CUDA kernels' numba source (--backend cuda)
    NN_cuda_ptx.*.ptx    their PTX, for the GPU at hand or else sm_90 (--backend cuda)
    pass_log.txt      every stage of the pipeline (trace, simplify, autodiff, partition, and
                      the backend's fusion, kernels, memory, schedule, compile): the graph it
                      ran on, what it turned into what (counts), milliseconds
    index.md          links to all of the above, with node counts

The folder gets a manifest of these files (.tracecomp-dump-manifest, dump_folder.py): a new
dump there removes the files the last one wrote and nothing else, and a folder that is not
empty and has no manifest is refused (no user file is ever deleted or overwritten).

Input specs are `SHAPE[:DTYPE[:HIGH]]`: `64x784`, `64x784:float64`, `64:int64:10` (integers
drawn from [0, HIGH), default 10). Mistakes in the command line (a bad TARGET, a missing
name, a bad --input, an --out folder that is not a dump's) print one line and exit with
status 2. Any other error (the model raising while it is built or run, a compile error)
prints one line, `tracecomp dump: error: <Class>: <message>`, and exits with status 1;
`--traceback` (or TRACECOMP_DEBUG set to 1 or more) prints the Python traceback as well.
"""
import argparse
import importlib.util
import inspect
import os
import re
import sys
import traceback

from . import distributed, dtypes, dump_folder
from .bench.command import add_bench_parser
from .dtypes import np_kind
from .errors import TracecompError
from .ir import format_graph
from .visualize import drawer, to_dot, write_picture

DEFAULT_OUT = "tracecomp_dump"
# compiled-object attributes holding backend text: (attribute, stage name, file extension)
BACKEND_TEXTS = [("memory_log", "memory", ".txt"), ("fusion_log", "fusion", ".txt"),
                 ("llvm_ir", "llvm_ir", ".ll"),
                 ("optimized_ir", "llvm_ir_optimized", ".ll"), ("asm", "asm", ".s"),
                 ("cuda_source", "cuda_source", ".py"), ("cuda_ptx", "cuda_ptx", ".ptx")]


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _traceback_flag(parser, default):
    parser.add_argument("--traceback", action="store_true", default=default,
                        help="on an error, print the Python traceback too (as does "
                        "TRACECOMP_DEBUG=1)")


def build_parser():
    parser = _Parser(prog="tracecomp", description="Look inside tracecomp's compiler.")
    _traceback_flag(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    dump = sub.add_parser("dump", help="write every compile stage of a model to a folder",
                          description=__doc__.split("\n\n")[1],
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dump.add_argument("target", metavar="TARGET",
                      help="path/to/file.py:Name (an nn.Module class or a function)")
    dump.add_argument("--input", action="append", default=[], metavar="SPEC",
                      help="one example input per flag: 64x784, 64x784:float64, 64:int64:10")
    dump.add_argument("--dtype", default="float32",
                      help="dtype of inputs whose SPEC names none (default float32)")
    dump.add_argument("--out", metavar="DIR",
                      help=f"output folder (default {DEFAULT_OUT}/<Name>)")
    dump.add_argument("--backend", default="llvm", help="compile backend (default llvm)")
    mode = dump.add_mutually_exclusive_group()
    mode.add_argument("--train", dest="train", action="store_true", default=None,
                      help="put a module in training mode (its default)")
    mode.add_argument("--eval", dest="train", action="store_false",
                      help="put a module in eval mode")
    dump.add_argument("--grad", action="store_true",
                      help="float example inputs require grad (a function's backward)")
    dump.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    dump.add_argument("-q", "--quiet", action="store_true",
                      help="do not print the traced graph")
    add_bench_parser(sub)
    support = sub.add_parser("support", help="probe torch's API against tracecomp's: the "
                             "table in SUPPORT.md (needs torch)")
    support.add_argument("--write", action="store_true",
                         help="write SUPPORT.md and tracecomp/torch_names.py in the "
                         "source tree instead of printing the table")
    sub.add_parser("doctor", help="what this machine gives the compiler: CPU, BLAS, threads, "
                   "disk cache, GPUs, picture tools (exit status 1 when something is a problem)")
    from .distributed.mpi_launch import add_parser as add_run_parser
    add_run_parser(sub)
    for command in sub.choices.values():
        # accepted after the subcommand too; SUPPRESS keeps a flag given before it
        _traceback_flag(command, argparse.SUPPRESS)
    return parser


def run_bench(args):
    from .bench import Options, bench
    for flag in ("rounds", "threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UsageError(f"--{flag} must be at least 1")
    torch_compile = not args.quick if args.torch_compile is None else args.torch_compile
    if args.device == "cuda":
        from . import cuda
        if not cuda.is_available():
            raise UsageError("--device cuda: no CUDA GPU here (tracecomp.cuda.is_available() "
                             "is False: install tracecomp[cuda] on a machine with an NVIDIA "
                             "GPU)")
    memory = not args.quick if args.memory is None else args.memory
    opts = Options(quick=args.quick, only=args.only, backends=args.backends,
                   torch_compile=torch_compile, threads=args.threads, device=args.device,
                   memory=memory and args.device == "cpu")
    return bench(opts, args.rounds, args.json, args.png)


def main(argv=None):
    """Entry point of the `tracecomp` console script; returns the exit status."""
    args = None
    try:
        args = build_parser().parse_args(argv)
        if args.command == "bench":
            return run_bench(args)
        if args.command == "support":
            from .support_table import main as support_main
            return support_main(write=args.write) or 0
        if args.command == "doctor":
            from .doctor import main as doctor_main
            return doctor_main()
        if args.command == "run":
            from .distributed import mpi_launch
            try:
                return mpi_launch.main(args)
            except mpi_launch.LaunchError as exc:
                raise UsageError(str(exc)) from None
        return run_dump(args, argv)
    except (UsageError, dump_folder.FolderError) as exc:
        print(f"tracecomp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_prog(args)}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:    # noqa: BLE001 - the user's model or our compiler: one line
        return _report(exc, args)


def _prog(args):
    return f"tracecomp {args.command}" if getattr(args, "command", None) else "tracecomp"


def _wants_traceback(args):
    level = os.environ.get("TRACECOMP_DEBUG", "").strip()
    return bool(getattr(args, "traceback", False)) or (level.isdigit() and int(level) >= 1)


def _report(exc, args):
    """Print `tracecomp <command>: error: <Class>: <message>` (and the traceback when asked
    for); returns exit status 1."""
    show = _wants_traceback(args)
    if show:
        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc).strip() or "(no message)"
    where = ""
    if not show and not isinstance(exc, TracecompError):
        # our own errors name the user's line already; anything else: where it was raised
        frame = _user_frame(exc)
        at = f"at {frame.filename}:{frame.lineno}; " if frame is not None else ""
        where = f" ({at}--traceback shows the traceback)"
    print(f"{_prog(args)}: error: {type(exc).__name__}: {message}{where}", file=sys.stderr)
    return 1


def _user_frame(exc):
    """The innermost traceback frame outside tracecomp and the Python installation (the
    user's model file), or None."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [os.path.dirname(os.path.abspath(__file__)), sys.prefix, sys.base_prefix]
    for sub in ("passes", "codegen"):
        package = sys.modules.get(f"{__package__}.{sub}")
        ours += list(getattr(package, "__path__", []))
    ours = tuple(os.path.abspath(p) + os.sep for p in ours)
    mine = [f for f in frames if not f.filename.startswith("<")
            and not os.path.abspath(f.filename).startswith(ours)]
    return mine[-1] if mine else None


# --- the target and its inputs -----------------------------------------------------------
def load_target(spec):
    """(name, object) for `path/to/file.py:Name`."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"TARGET must be path/to/file.py:Name, got {spec!r}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    module_name = "_tracecomp_target_" + re.sub(r"\W", "_", os.path.splitext(path)[0])
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None:
        raise UsageError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    # as when run as a script: the file's folder is importable, so it can import siblings
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:    # noqa: BLE001 - the user's file failed: say so in one line
        raise UsageError(f"importing {path} failed: {type(exc).__name__}: {exc} "
                         f"(run `python {path}` for the traceback)") from None
    finally:
        sys.path.pop(0)
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items()
                       if not k.startswith("_") and _is_dumpable(v, module_name))
        raise UsageError(f"{path} has no `{name}`; it defines: {', '.join(found) or 'nothing'}")
    return name, getattr(module, name)


def _is_dumpable(obj, module_name):
    from .nn import Module
    own = getattr(obj, "__module__", None) == module_name
    return (isinstance(obj, type) and issubclass(obj, Module) and own) or \
        (inspect.isfunction(obj) and own) or isinstance(obj, Module)


def instantiate(name, obj):
    """An nn.Module instance or a plain function for a target object."""
    from .nn import Module
    if isinstance(obj, type) and issubclass(obj, Module):
        try:
            return obj()
        except TypeError as exc:
            raise UsageError(f"{name}() needs constructor arguments ({exc}); give defaults "
                             f"to its __init__ arguments, or dump a module instance or a "
                             f"function that calls it") from None
    if isinstance(obj, Module) or inspect.isfunction(obj):
        return obj
    torch_base = next((c for c in getattr(obj, "__mro__", type(obj).__mro__)
                       if c.__module__.split(".")[0] == "torch"), None)
    if torch_base is not None:
        raise UsageError(f"{name} is built on torch's {torch_base.__name__} ({name}'s file "
                         f"imports torch). Change the imports to tracecomp's "
                         f"(`import tracecomp as torch`, `import tracecomp.nn as nn`, "
                         f"`import tracecomp.nn.functional as F`) and dump it again")
    raise UsageError(f"{name} is of type {type(obj).__name__}: expected an nn.Module class, "
                     f"a module instance or a function")


def parse_input(spec, default_dtype):
    """(shape, numpy dtype, high) for `64x784`, `64x784:float64`, `64:int64:10`."""
    parts = spec.split(":")
    if len(parts) > 3:
        raise UsageError(f"--input {spec!r}: expected SHAPE[:DTYPE[:HIGH]]")
    try:
        shape = tuple(int(d) for d in re.split(r"[x,]", parts[0])) if parts[0] else ()
    except ValueError:
        raise UsageError(f"--input {spec!r}: the shape must be sizes joined by 'x', like "
                         f"64x784") from None
    if any(d < 0 for d in shape):
        raise UsageError(f"--input {spec!r}: sizes cannot be negative")
    dtype = _dtype(parts[1] if len(parts) > 1 else default_dtype, f"--input {spec!r}")
    try:
        high = int(parts[2]) if len(parts) > 2 else 10
    except ValueError:
        raise UsageError(f"--input {spec!r}: HIGH must be an integer") from None
    if len(parts) > 2 and np_kind(dtype) not in "iu":
        raise UsageError(f"--input {spec!r}: HIGH only applies to integer inputs")
    return shape, dtype, high


def _dtype(name, what):
    dtype = dtypes.ALIASES.get(name) or next((d for d in dtypes.ALL if d.name == name), None)
    if dtype is None:
        known = ", ".join(d.name for d in dtypes.ALL)
        raise UsageError(f"{what}: unknown dtype {name!r}; known: {known}")
    return dtype.np


def make_inputs(specs, grad):
    """Random example tensors: normal floats, integers in [0, high), random bools."""
    import tracecomp
    inputs = []
    for shape, dtype, high in specs:
        if np_kind(dtype) == "f":
            inputs.append(tracecomp.randn(*shape, dtype=dtype, requires_grad=grad))
        elif np_kind(dtype) == "b":
            inputs.append(tracecomp.randint(0, 2, shape) > 0)
        else:
            inputs.append(tracecomp.randint(0, high, shape, dtype=dtypes.from_np(dtype)))
    return inputs


# --- compiling -----------------------------------------------------------------------------
def _compile_function():
    """tracecomp.compile, or None in a version that has no compiler yet."""
    import tracecomp
    if hasattr(tracecomp, "compile"):
        return tracecomp.compile
    try:
        from .compiler.api import compile as compile_fn
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.compiler":
            raise
        return None
    return compile_fn


def compile_and_run(target, inputs, backend):
    """(stages: stage name -> Graph in pipeline order, pass log, compiled object or None).

    The compiled target runs once; when its output needs a gradient, `.sum().backward()`
    runs too, so the backward graph is built and shows up among the stages."""
    compile_fn = _compile_function()
    if compile_fn is None:
        return {"traced": trace_only(target, inputs)}, [], None
    # fullgraph: a graph break has no graph to show; its TraceError names the line
    compiled = compile_fn(target, backend=backend, fullgraph=True)
    result = compiled(*inputs)
    outs = [r for r in (result if isinstance(result, (tuple, list)) else [result])
            if getattr(r, "requires_grad", False)]
    if outs:
        sum(o.sum() for o in outs).backward()
    return dict(compiled.graphs), list(getattr(compiled, "pass_log", None) or []), compiled


def trace_only(target, inputs):
    """The traced graph without tracecomp.compile: a module's parameters and buffers become
    named inputs (`fc1.weight`) and nodes remember their module paths, as compile does."""
    from .ir import Graph
    from .nn import Module
    from .tracing.tracer import Tracer, trace, wrap
    names = arg_names(target, len(inputs))
    if not isinstance(target, Module):
        graph = trace(target, *inputs, names=names)
        graph.name = "traced"
        return graph
    tracer = Tracer(Graph("traced"), {id(m): path for path, m in target.named_modules()})
    members = list(target.named_parameters()) + list(target.named_buffers())
    arrays = [t._data for _, t in members]
    with tracer:
        try:
            args = [wrap(tracer.input(n, x), x.requires_grad) for n, x in zip(names, inputs)]
            # the module's own tensors stand for graph inputs while its forward runs
            for name, t in members:
                t._data = tracer.input(name, t)
            result = target(*args)
            results = result if isinstance(result, (tuple, list)) else (result,)
            tracer.graph.outputs = [tracer.lift(r) for r in results]
        finally:
            for (_, t), data in zip(members, arrays):
                t._data = data
    return tracer.graph


def arg_names(target, count):
    """The names of target's first `count` positional parameters (`x`), else arg0..."""
    from .nn import Module
    fn = target.forward if isinstance(target, Module) else target
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[k] if k < len(params) else f"arg{k}" for k in range(count)]


# --- the dump ------------------------------------------------------------------------------
def run_dump(args, argv=None):
    import tracecomp

    from .codegen import registry
    from .nn import Module
    if args.backend not in registry.BACKENDS:
        raise UsageError(f"unknown backend {args.backend!r}; available: "
                         f"{', '.join(sorted(registry.BACKENDS))}")
    specs = [parse_input(s, args.dtype) for s in args.input]
    _dtype(args.dtype, "--dtype")
    name, obj = load_target(args.target)
    tracecomp.manual_seed(args.seed)
    target = instantiate(name, obj)
    if not specs:
        raise UsageError(f"{name} needs example inputs: pass one --input SHAPE per argument "
                         f"(e.g. --input 64x784)")
    parameters = set()
    if isinstance(target, Module):
        if args.train is not None:
            target.train(args.train)
        parameters = {n for n, _ in target.named_parameters()}
        parameters |= {n for n, _ in target.named_buffers()}
    inputs = make_inputs(specs, args.grad)

    out_dir = args.out or os.path.join(DEFAULT_OUT, name)
    # under mpiexec (`tracecomp run -n 2 -- ...`, a data-parallel step's all-reduces): every
    # rank compiles and runs the target, as its collectives need; rank 0 writes the files
    launched = distributed.faults.launched_size_and_rank()
    writer = launched is None or launched[1] == 0
    if writer:
        dump_folder.check(out_dir)  # before the compile: refuse a folder that is not ours
    stages, pass_log, compiled = compile_and_run(target, inputs, args.backend)
    if not writer:
        return 0
    folder = dump_folder.DumpFolder(out_dir)
    user_inputs = arg_names(target, len(inputs))
    rows, files = write_stages(folder, name, stages, (parameters, user_inputs), compiled)
    files.append(write_pass_log(folder, pass_log))
    about = describe(args, name, target, inputs, compiled, argv)
    files.append(write_index(folder, name, about, rows, pass_log))

    if not args.quiet:
        first = stages.get("traced") or next(iter(stages.values()))
        print(format_graph(first))
    stages_word = "stage" if len(rows) == 1 else "stages"
    print(f"tracecomp dump: {len(rows)} {stages_word}, {len(files)} files in {out_dir}"
          f" (start at {os.path.join(out_dir, 'index.md')})")
    if drawer() is None:
        print("tracecomp dump: no .svg pictures: install matplotlib (pip install "
              "'tracecomp[demo]') or Graphviz to get them (the .dot files are written)")
    return 0


def dump_compiled(compiled, out_dir, name, about=(), parameters=(), user_inputs=()):
    """Write every stage of an already-run compiled module or function to out_dir (what
    `tracecomp dump` writes, for code that compiled something itself, like the demo).
    Returns the path of index.md. Like the CLI, it removes only the files an earlier dump
    to out_dir wrote, and raises dump_folder.FolderError (a ValueError) for a folder that
    is not empty and was not written by a dump."""
    stages = dict(compiled.graphs)
    folder = dump_folder.DumpFolder(out_dir)
    rows, _ = write_stages(folder, name, stages, (set(parameters), list(user_inputs)),
                           compiled)
    write_pass_log(folder, compiled.pass_log)
    return write_index(folder, name, list(about), rows, compiled.pass_log)


def describe(args, name, target, inputs, compiled, argv):
    """The facts index.md starts with: the command, the target, inputs, backend."""
    import shlex

    from .nn import Module
    words = sys.argv[1:] if argv is None else argv
    if isinstance(target, Module):
        kind = f"nn.Module, {'training' if target.training else 'eval'} mode"
    else:
        kind = "function"
    names = arg_names(target, len(inputs))
    shown = ", ".join(f"`{n}: {dtypes.short_name(x._data.dtype)}{list(x.shape)}`"
                      .replace(", ", ",") for n, x in zip(names, inputs))
    how = ("`tracecomp.compile`" if compiled is not None else
           "the tracer only (this version has no `tracecomp.compile`, so there is one stage)")
    return [f"`tracecomp {' '.join(shlex.quote(w) for w in words)}`", "",
            f"- target: `{args.target}` ({kind})", f"- inputs: {shown}",
            f"- backend: `{args.backend}`", f"- compiled by: {how}"]


def _file_stem(k, stage):
    return f"{k:02d}_{re.sub(r'[^A-Za-z0-9._-]', '_', stage)}"


def write_stages(folder, name, stages, names, compiled):
    """Write each stage's IR text and picture into `folder` (a dump_folder.DumpFolder), then
    the backend's texts; returns (rows for index.md, files written). `names` is (parameter
    names, argument names) for to_dot."""
    rows, files = [], []
    for k, (stage, graph) in enumerate(stages.items()):
        stem = _file_stem(k, stage)
        with open(folder.file(stem + ".txt"), "w", encoding="utf-8") as f:
            f.write(format_graph(graph) + "\n")
        written = [folder.file(stem + ".txt")]
        folder.file(stem + ".svg")          # listed before write_picture may draw it
        stem = folder.file(stem + ".dot")[:-len(".dot")]
        try:
            written += write_picture(to_dot(graph, f"{name}: {stage}", *names), stem)
        except TracecompError as exc:
            print(f"tracecomp dump: warning: {exc}", file=sys.stderr)
            written.append(stem + ".dot")
        counts = (len(graph.inputs), graph.op_count(), len(graph.nodes) - graph.op_count())
        rows.append((stage, counts, [os.path.basename(p) for p in written]))
        files += written
    k = len(rows)
    for attr, stage, ext in BACKEND_TEXTS:
        value = getattr(compiled, attr, None)
        texts = value if isinstance(value, dict) else {"": value} if value else {}
        for part, text in texts.items():
            label = f"{stage}.{part}" if part else stage
            try:
                text = str(text)        # the PTX is compiled here: NVVM may be missing
            except TracecompError as exc:
                print(f"tracecomp dump: warning: no {label}: {exc}", file=sys.stderr)
                continue
            path = folder.file(_file_stem(k, label) + ext)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.rstrip("\n") + "\n")
            rows.append((label, None, [os.path.basename(path)]))
            files.append(path)
            k += 1
    return rows, files


def write_pass_log(folder, pass_log):
    """pass_log.txt: one line per pass run, in the order they ran."""
    lines = [f"{'pass':<28} {'graph':<22} {'nodes before -> after':>22} {'ms':>9}"]
    total = 0.0
    for entry in pass_log:
        graph = getattr(entry, "graph", "")
        graph = getattr(graph, "name", graph)
        nodes = f"{getattr(entry, 'nodes_before', '?')} -> {getattr(entry, 'nodes_after', '?')}"
        seconds = float(getattr(entry, "seconds", 0.0) or 0.0)
        total += seconds
        lines.append(f"{getattr(entry, 'name', '?'):<28} {graph!s:<22} {nodes:>22} "
                     f"{seconds * 1e3:>9.3f}")
    if not pass_log:
        lines.append("(no passes ran)")
    lines.append(f"{'total':<28} {'':<22} {'':>22} {total * 1e3:>9.3f}")

    path = folder.file("pass_log.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_index(folder, name, about, rows, pass_log):
    """index.md: what was dumped and links to every file, stages in pipeline order."""
    lines = [f"# tracecomp dump: {name}", "", *about, "",
             "## Stages, in pipeline order", "",
             "| # | stage | inputs | ops | constants | files |", "|---|---|--:|--:|--:|---|"]
    for k, (stage, counts, files) in enumerate(rows):
        links = ", ".join(f"[{f}]({f})" for f in files)
        numbers = " | ".join(str(c) for c in counts) if counts else " | | "
        lines.append(f"| {k:02d} | {stage} | {numbers} | {links} |")
    total_ms = sum(float(getattr(e, "seconds", 0.0) or 0.0) for e in pass_log) * 1e3
    lines += ["", "## Passes", "",
              f"{len(pass_log)} pass runs, {total_ms:.1f} ms in all: [pass_log.txt](pass_log.txt) "
              f"(before -> after counts graph nodes; the backend's stages count what they turn "
              f"into what: fusion nodes -> fused groups, llvm kernels groups -> kernel "
              f"functions, memory groups -> values in the arena, schedule groups -> program "
              f"segments, llvm compile entry functions)",
              "", "## Pictures", ""]
    lines.append({
        "graphviz": "SVG pictures were drawn by Graphviz; hover over a node for its IR line.",
        "matplotlib": "SVG pictures were laid out by tracecomp (matplotlib; Graphviz is not "
                      "installed here: with its `dot` on PATH they are drawn by Graphviz, "
                      "with a tooltip per node).",
        None: "No .svg pictures: install matplotlib or Graphviz to get them, or draw a .dot "
              "file on any machine that has Graphviz: `dot -Tsvg NN_stage.dot -o "
              "NN_stage.svg`."}[drawer()])
    lines += ["", ("Colours: lightblue parameters and buffers, gold user inputs, orange values "
                   "the forward saved for the backward, pink incoming gradients, grey "
                   "constants, green outputs.")]
    path = folder.file("index.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
