"""What the tests' spawned children run (test_multiprocessing, test_programs_round34). A
spawned child imports the module of the function it is given: here that is this module,
which imports neither torch nor tracecomp, so a child that works on tracecomp tensors loads
tracecomp alone (from a test module it loaded torch too, ~1.5 s a child)."""
import importlib


def write_rank(rank, queue, scale):
    queue.put((rank, rank * scale))


def shared_model_steps(model, shared, unshared):
    """One in-place step on each: the parent checks that all three reach its memory."""
    lib = importlib.import_module(type(model).__module__.split(".")[0])   # torch or tracecomp
    with lib.no_grad():
        model.weight.add_(1.0)
    shared.mul_(2.0)
    unshared.add_(1.0)
