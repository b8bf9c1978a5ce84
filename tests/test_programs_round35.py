"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 35), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few steps; "agrees"
means eager and compiled losses/logits match torch's to about 1e-7 relative):
- rasbt/LLMs-from-scratch ch04/03_kv-cache gpt_with_kv_cache.py: forward, greedy and
  KV-cached generation, AdamW steps: agrees; compiled cached generation stopped on a
  TypeError building ArgumentRead's message (two modules' position counters read at once).
- ch04/04_gqa, 05_mla, 06_swa: the same (stopped the same way compiled); agree now.
- ch04/07_moe: agrees; its MoE layer (torch.unique, .item()) runs as a graph break.
"""
import numpy as np
import torch

import tracecomp as tc

from helpers import assert_close


# --- two modules' counters read as values in one trace -----------------------------------
# Each attention layer of a KV-cached GPT keeps `self.ptr_current_pos` and takes
# torch.arange(ptr, ptr + n) from it: the counters change each call so they are fed, then
# read as values, and the ArgumentRead naming both failed to sort its labels.
def _counter_net(lib):
    class Layer(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.pos = 0

        def forward(self, x):
            n = x.shape[1]
            q = lib.arange(self.pos, self.pos + n)
            self.pos += n
            return x * q.to(x.dtype)

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = lib.nn.ModuleList([Layer(), Layer()])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x) + 1
            return x
    return Net()


def test_two_fed_counters_read_as_values_compile_and_match_torch():
    ref, ours = _counter_net(torch), _counter_net(tc)
    step = tc.compile(ours)
    rng = np.random.default_rng(0)
    for n in (3, 1, 1, 1, 2):
        x = rng.standard_normal((1, n)).astype(np.float32)
        assert_close(step(tc.tensor(x)), ref(torch.tensor(x)))
    assert [layer.pos for layer in ours.layers] == [layer.pos for layer in ref.layers] == [8, 8]
