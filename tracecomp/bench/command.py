"""`tracecomp bench`'s command line: its arguments (cli.py's parser adds them; cli.run_bench
turns them into Options and runs the bench)."""
import argparse


def add_bench_parser(sub):
    """The `bench` subcommand's arguments, under the CLI's subparsers `sub`."""
    from . import GROUPS
    bench = sub.add_parser("bench", help="time eager vs compiled tracecomp, numpy and torch",
                           description="Time tracecomp eager and compiled against numpy by "
                           "hand, torch eager and torch.compile in one process, checking "
                           "every result first; prints a markdown table per workload.")
    bench.add_argument("--quick", action="store_true",
                       help="tiny sizes and 3 rounds, without torch.compile (a smoke test)")
    bench.add_argument("--only", type=_names(GROUPS), default=GROUPS, metavar="LIST",
                       help=f"comma-separated workloads (default all: {','.join(GROUPS)})")
    bench.add_argument("--rounds", type=int, metavar="N",
                       help="timing rounds (default 20, 3 with --quick)")
    bench.add_argument("--threads", type=int, metavar="N",
                       help="BLAS and torch threads (default: leave theirs)")
    bench.add_argument("--backends", type=_names(("interp", "llvm")), default=("llvm",),
                       metavar="LIST", help="tracecomp.compile backends (default llvm)")
    tc = bench.add_mutually_exclusive_group()
    tc.add_argument("--torch-compile", dest="torch_compile", action="store_true",
                    default=None, help="include torch.compile (the default without --quick)")
    tc.add_argument("--no-torch-compile", dest="torch_compile", action="store_false",
                    help="skip torch.compile (its compile takes ~20 s per model here)")
    mem = bench.add_mutually_exclusive_group()
    mem.add_argument("--memory", dest="memory", action="store_true", default=None,
                     help="measure training steps' heap memory, one process per contestant "
                     "(the default without --quick; needs Linux and a C compiler)")
    mem.add_argument("--no-memory", dest="memory", action="store_false",
                     help="skip the step-memory column")
    bench.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="where models, inputs and compiled code run (cuda: a GPU, "
                       "against torch on CUDA)")
    bench.add_argument("--json", metavar="PATH", help="write every number as JSON")
    bench.add_argument("--png", metavar="PATH", help="draw a bar chart (needs matplotlib)")


def _names(allowed):
    """argparse type: a comma-separated subset of `allowed`, as a tuple in allowed's order."""
    def parse(text):
        names = {n.strip() for n in text.split(",") if n.strip()}
        unknown = names - set(allowed)
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(allowed)}")
        return tuple(n for n in allowed if n in names)
    return parse
