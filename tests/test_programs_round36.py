"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 36), each reproduced here against torch.

Programs run (weights copied from torch's twin, tiny synthetic data, a few SGD steps;
"agrees" means eager, compile(model) and a compiled whole step give torch's losses to
about 1e-7 relative):
- d2l-en chapter_convolutional-modern: GoogLeNet, BatchNorm from scratch (BNLeNetScratch)
  and BNLeNet, DenseNet, ResNet18, AnyNet/RegNetX32, NiN, VGG, AlexNet (lazy layers,
  layer_summary): agree (NiN/AlexNet/VGG's dropout masks come from another RNG; RegNetX32
  with batch 2 drifts to 1e-5 by step 3 as float32 order in BN amplifies, eager too).
- d2l-en chapter_recurrent-neural-networks / chapter_recurrent-modern: RNN, GRU, LSTM and
  stacked RNN from scratch and concise, their predict(), gradient clipping through
  `param.grad[:] *= ...`: agree; BiRNNScratch stopped on reversed(inputs) (a plain
  iterator, no tensor): agrees now.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc

from helpers import assert_close, to_tc


# --- reversed(tensor) ---------------------------------------------------------------------
# d2l's BiRNNScratch runs its backward RNN over reversed(inputs) and reads .shape from it.
@pytest.mark.parametrize("compiled", [False, True])
def test_reversed_flips_the_first_dim_as_torch(compiled):
    x_t = torch.tensor(np.arange(24.0).reshape(4, 3, 2), dtype=torch.float32,
                       requires_grad=True)

    def f(lib, x):
        r = reversed(x)
        return r * lib.arange(4.0).reshape(4, 1, 1), r.shape[0]
    want, n_want = f(torch, x_t)
    want.sum().backward()
    x = to_tc(x_t)
    got, n_got = (tc.compile(lambda x: f(tc, x)) if compiled else lambda x: f(tc, x))(x)
    got.sum().backward()
    assert n_got == n_want
    assert_close(got, want)
    assert_close(x.grad, x_t.grad, what="x.grad")


def test_reversed_of_a_0d_tensor_is_itself_as_torch():
    for lib in (torch, tc):
        t = lib.tensor(2.0)
        assert reversed(t) is t
