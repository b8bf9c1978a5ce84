"""What test_multiprocessing's spawned children run. A spawned child imports the module of
the function it is given: here that is this module, which imports neither torch nor
tracecomp, so a child of tracecomp.multiprocessing.spawn loads tracecomp alone (from the
test module it loaded torch too, ~1.5 s a child)."""


def write_rank(rank, queue, scale):
    queue.put((rank, rank * scale))
