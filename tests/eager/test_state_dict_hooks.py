"""Module's state_dict and load_state_dict hooks against torch 2.13: what each is called
with and in which order, what it may change, and their handles."""
import pytest
import torch

import tracecomp as tc


def _record(lib):
    """The calls each hook kind sees on a Sequential(Linear) for state_dict() and a
    load_state_dict() whose post-hook forgives the missing keys."""
    model = lib.nn.Sequential(lib.nn.Linear(2, 2))
    seen = []
    model.register_state_dict_pre_hook(
        lambda m, prefix, keep_vars: seen.append(("pre", type(m).__name__, prefix)))
    model[0].register_state_dict_post_hook(
        lambda m, sd, prefix, meta: seen.append(("post", prefix, sorted(sd), dict(meta))))
    handle = model[0]._register_state_dict_hook(
        lambda m, sd, prefix, meta: sd.__setitem__(prefix + "extra", lib.ones(1)))
    keys = list(model.state_dict())
    handle.remove()
    seen.append(("after remove", list(model.state_dict())))

    def rename(m, sd, prefix, meta, strict, missing, unexpected, errors):
        seen.append(("load pre", type(m).__name__, prefix, sorted(sd)))
        sd[prefix + "weight"] = sd.pop(prefix + "w")

    def forgive(m, keys):
        seen.append(("load post", type(m).__name__, list(keys.missing_keys)))
        keys.missing_keys.clear()
    model[0].register_load_state_dict_pre_hook(rename)
    model.register_load_state_dict_post_hook(forgive)
    result = model.load_state_dict({"0.w": lib.ones(2, 2)})
    seen.append(("result", repr(result), model[0].weight.sum().item()))
    return keys, seen


def test_state_dict_hooks_follow_torch():
    assert _record(tc) == _record(torch)


def test_a_public_post_hook_may_not_return_a_state_dict():
    for lib in (tc, torch):
        model = lib.nn.Linear(2, 2)
        model.register_state_dict_post_hook(lambda m, sd, prefix, meta: {})
        with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
            model.state_dict()
