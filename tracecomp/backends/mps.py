"""tracecomp.backends.mps: Apple's Metal backend, which tracecomp (like torch's Linux CPU
build) does not have."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
