"""What published efficient- and unusual-attention programs needed that tracecomp lacked,
found by running them with their imports changed, eager and compiled (round 56), each
reproduced here against torch.

Programs run (weights copied from the torch model, data from one numpy generator; "agrees"
means eager, compile(model) and a compiled whole training step give torch's losses,
outputs and parameters after every step):
- lucidrains/reformer-pytorch reformer_pytorch.py and reversible.py (an einops stand-in for
  its four patterns; local_attention, axial embeddings and product-key memory unused):
  ReformerLM with LSH attention (random rotations, argmax buckets, sort_key_val and the
  undo sort, gather-based batched_index_select, look_one_back, the self mask at -5e4,
  logsumexp over hash rounds), input masks, reversible blocks through _ReversibleFunction
  (backward reruns f and g under enable_grad with the recorded RNG state and the buckets
  cached by hash_vectors), chunked feed-forward, Adam + clip_grad_norm_. With the random
  rotations drawn from one numpy generator in both libraries: agree eagerly, and compiled
  (the numpy draws and get_rng_state are graph breaks, with their reasons). With
  tracecomp's own generator, compiled against eager (dropout on): the compiled step went
  elsewhere from its second step (below); after the fix agrees.
The gaps: a module's tensors kept in a dict attribute (LSHAttention's `self._cache =
{**self._cache, 'buckets:0': buckets}`, written by the forward and read back by the
reversible backward's rerun) were compiled in as constants of the first trace, and the
rebound dict was never checked: every later call of the compiled rerun used the first
step's buckets, silently. The same for a tensor in a tuple or plain object a module holds.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

_RNG = np.random.default_rng(56)


# --- a module's dict of cached tensors is read anew on every compiled call --------------
def _bucket_cache_module(lib):
    class Hasher(lib.nn.Module):
        """reformer's hash_vectors cache, cut down: the forward stores the sort order in a
        dict attribute; the rerun (fetch=True) reads it back instead of hashing again."""

        def __init__(self):
            super().__init__()
            self.proj = lib.nn.Linear(4, 4)
            self._cache = {}

        def forward(self, x, fetch=False):
            if fetch:
                order = self._cache["buckets:0"]
            else:
                order = x.sum(-1).argsort(dim=-1)
                self._cache = {**self._cache, "buckets:0": order}
            idx = order[:, :, None].expand(-1, -1, x.shape[-1])
            return self.proj(x.gather(1, idx))
    return Hasher()


@pytest.mark.parametrize("compiled_writes", [False, True])
def test_tensors_a_module_keeps_in_a_dict_are_read_anew_each_compiled_call(compiled_writes):
    tm, cm = _bucket_cache_module(torch), _bucket_cache_module(tc)
    cm.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    run = tc.compile(cm)
    for _ in range(3):
        x = _RNG.standard_normal((2, 5, 4)).astype(np.float32)
        tm(torch.tensor(x))
        (run if compiled_writes else cm)(tc.tensor(x))       # the hashing pass
        y = _RNG.standard_normal((2, 5, 4)).astype(np.float32)
        want = tm(torch.tensor(y), fetch=True)
        got = run(tc.tensor(y), fetch=True)                 # the rerun: reads the cache
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_array_equal(cm._cache["buckets:0"].numpy(),
                                      tm._cache["buckets:0"].numpy())


def _holder_module(lib, kind):
    class Box:
        pass

    class Shift(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.put(lib.zeros(3))

        def put(self, v):
            if kind == "tuple":
                self.held = (v, 2.0)
            else:
                self.held = Box()
                self.held.v = v

        def forward(self, x):
            v = self.held[0] if kind == "tuple" else self.held.v
            return x * v
    return Shift()


@pytest.mark.parametrize("kind", ["tuple", "object"])
def test_a_tensor_in_a_tuple_or_object_a_module_holds_is_not_a_stale_constant(kind):
    m = _holder_module(tc, kind)
    run = tc.compile(m)
    for _ in range(3):
        v = _RNG.standard_normal(3).astype(np.float32)
        m.put(tc.tensor(v))                 # rebound between calls, as a cache would be
        x = _RNG.standard_normal(3).astype(np.float32)
        np.testing.assert_allclose(run(tc.tensor(x)).numpy(), x * v, rtol=1e-6)
