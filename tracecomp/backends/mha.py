"""torch.backends.mha: the switch of torch's fused "fast path" for TransformerEncoder and
MultiheadAttention at inference (programs turn it off to compare the two paths). A flag
as the others here: tracecomp has one attention path, which gives torch's answers with the
fast path on or off."""

_STATE = {"enabled": True}


def get_fastpath_enabled() -> bool:
    """Whether the fast path is enabled (torch's default: True)."""
    return _STATE["enabled"]


def set_fastpath_enabled(value: bool) -> None:
    _STATE["enabled"] = value
