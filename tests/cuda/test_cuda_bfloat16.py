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
