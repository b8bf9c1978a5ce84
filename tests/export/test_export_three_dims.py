"""torch.export with three Dims (a CNN's batch, height and width): one exported graph in
three symbols whose outputs match torch at every size, whose range constraints print as
torch's, whose module compiles once, and whose guards fail as torch's outside the ranges."""
import pytest
import torch

import tracecomp as tc
from tests.helpers import assert_close, to_tc


def build(ns):
    class CNN(ns.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = ns.nn.Conv2d(3, 8, 3, padding=1)
            self.head = ns.nn.Linear(8, 10)

        def forward(self, x):
            return self.head(ns.relu(self.conv(x)).amax((2, 3)))
    return CNN()


def dims(ns):
    Dim = ns.export.Dim
    return {"x": {0: Dim("batch", min=2, max=64), 2: Dim("height", min=8, max=512),
                  3: Dim("width", min=8, max=512)}}


def test_a_cnn_exported_with_batch_height_and_width_dynamic_runs_every_size_as_torch():
    torch.manual_seed(0)
    tm, mm = build(torch), build(tc)
    mm.load_state_dict({k: to_tc(v) for k, v in tm.state_dict().items()})
    example = torch.randn(2, 3, 64, 64)     # large enough that conv would chunk by batch
    tep = torch.export.export(tm, (example,), dynamic_shapes=dims(torch))
    ep = tc.export.export(mm, (to_tc(example),), dynamic_shapes=dims(tc))
    assert "%x: f32[s0,3,s1,s2]" in str(ep) and "f32[8,s0*s1*s2]" in str(ep)
    # torch names its symbols by a hash (s77, s53, s0); the ranges are the same, in order
    assert [str(v) for v in ep.range_constraints.values()] == \
        [str(v) for v in tep.range_constraints.values()] == \
        ["VR[2, 64]", "VR[8, 512]", "VR[8, 512]"]
    assert "Range constraints: {s0: VR[2, 64], s1: VR[8, 512], s2: VR[8, 512]}" in str(ep)
    mod, tmod = ep.module(), tep.module()
    for shape in ((2, 3, 64, 64), (3, 3, 17, 40), (5, 3, 9, 8), (4, 3, 40, 17), (2, 3, 8, 8)):
        x = torch.randn(*shape)
        assert_close(mod(to_tc(x)), tmod(x), rtol=1e-4, atol=1e-5, what=f"at {shape}")
    assert ep._compiled.compiles == 1       # the Dims are three symbols from the first call
    for bad, why in ((torch.randn(2, 3, 4, 32), r"x.size\(\)\[2\] >= 8"),
                     (torch.randn(70, 3, 8, 8), r"x.size\(\)\[0\] <= 64"),
                     (torch.randn(2, 4, 8, 8), r"x.size\(\)\[1\] == 3")):
        for m, arg in ((mod, to_tc(bad)), (tmod, bad)):
            with pytest.raises(AssertionError, match="Guard failed: " + why):
                m(arg)


def test_more_dims_than_symbols_say_the_limit():
    class Five(tc.nn.Module):
        def forward(self, a, b, c, d, e):
            return a.sum() + b.sum() + c.sum() + d.sum() + e.sum()
    xs = tuple(tc.randn(n) for n in (2, 3, 4, 5, 6))
    shapes = tuple({0: tc.export.Dim(f"d{k}")} for k in range(5))
    with pytest.raises(NotImplementedError, match="5 distinct Dims.*at most 4 symbols"):
        tc.export.export(Five(), xs, dynamic_shapes=shapes)
