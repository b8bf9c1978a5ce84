"""Which gradients travel together: torch DDP's bucket rule, written once for the eager
reducer (nn/parallel/reducer.py) and the compiled graph's pass (passes/buckets.py).

Gradients are taken in the order they usually become ready (the caller's order: last
parameters first), grouped by kind (one dtype, and for the graph one op and gate), and a
bucket is closed when the next gradient would take it past its cap. The first bucket
closed may have a smaller cap, so that the first message starts early, as torch's does.
"""
DEFAULT_BUCKET_MB = 25                  # torch's bucket_cap_mb default
FIRST_BUCKET_BYTES = 1024 * 1024        # torch's dist._DEFAULT_FIRST_BUCKET_BYTES


def assign(items, nbytes, kind, cap_bytes, first_cap_bytes=None):
    """[[item, ...], ...]: `items` in order, by kind(item), in buckets of at most
    cap(item's kind) bytes (nbytes(item) each), the first closed one first_cap_bytes
    (default: the same cap). cap_bytes: a number, or a function of the kind."""
    cap_of = cap_bytes if callable(cap_bytes) else (lambda k: cap_bytes)
    buckets, open_, closed = [], {}, 0
    for item in items:
        k = kind(item)
        members, size = open_.setdefault(k, ([], [0]))
        cap = cap_of(k) if closed or first_cap_bytes is None else first_cap_bytes
        if members and size[0] + nbytes(item) > cap:
            buckets.append(members)
            closed += 1
            members, size = open_[k] = ([], [0])
        members.append(item)
        size[0] += nbytes(item)
    buckets.extend(m for m, _ in open_.values() if m)
    return buckets
