"""bfloat16 on a CUDA device: the CUDA backend has no bfloat16 kernels, so every way of
putting a bfloat16 tensor there is refused with one clear TypeError (torch.cuda
.is_bf16_supported() says False); float32 work on the device is unaffected."""
import pytest

import tracecomp as tc


@pytest.mark.parametrize("make", [
    lambda: tc.ones(3, dtype=tc.bfloat16).to("cuda"),
    lambda: tc.ones(3, device="cuda").to(tc.bfloat16),
    lambda: tc.ones(3, dtype=tc.bfloat16, device="cuda"),
    lambda: tc.nn.Linear(2, 2).cuda().bfloat16(),
], ids=["to_cuda", "to_bf16_on_cuda", "created_there", "module"])
def test_bfloat16_is_refused_on_cuda(make):
    with pytest.raises(TypeError, match="bfloat16 tensors cannot live on cuda:0: tracecomp's "
                                        "cuda backend has no bfloat16 kernels"):
        make()
    assert not tc.cuda.is_bf16_supported()
    assert (tc.ones(3, device="cuda") * 2).cpu().tolist() == [2.0, 2.0, 2.0]


def test_compiled_bfloat16_cast_on_cuda_is_a_graph_break():
    """The llvm backend compiles bfloat16 (passes/widen_bf16.py); the cuda one does not, so
    there a bfloat16 op stays a graph break, running eagerly into eager's TypeError."""
    def f(x):
        return (x.bfloat16() * 2).float().sum()
    x = tc.randn(4, 3).to("cuda")
    with pytest.raises(tc.errors.TraceError, match="cast: .*cuda backend has no bfloat16"):
        tc.compile(f, fullgraph=True)(x)
    with pytest.warns(UserWarning, match="cuda backend has no bfloat16"), \
            pytest.raises(TypeError, match="bfloat16 tensors cannot live on cuda:0"):
        tc.compile(f)(x)
