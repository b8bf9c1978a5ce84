"""conv_transpose3d and avg_pool3d (with conv3d) under tracecomp.compile, on every CPU
backend: they are their 2-D forms' ops, so they compile to the same kernels. Values and
gradients must be torch's."""
import numpy as np
import torch

import tracecomp as tc

RNG = np.random.default_rng(0)


def _pair(build):
    torch.manual_seed(0)
    ref = build(torch)
    model = build(tc)
    model.load_state_dict({k: tc.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    return ref, model


def _decoder(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(),
                         nn.ConvTranspose3d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                            groups=2),
                         nn.AvgPool3d(3, stride=2, padding=1, ceil_mode=True,
                                      count_include_pad=False),
                         nn.AvgPool3d((2, 1, 2), divisor_override=3))


def test_a_3d_decoder_compiled_matches_torch(backend):
    ref, model = _pair(_decoder)
    x = RNG.standard_normal((2, 2, 4, 5, 6)).astype(np.float32)
    compiled = tc.compile(model, backend=backend)
    out, want = compiled(tc.tensor(x)), ref(torch.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    (out * out).sum().backward()
    (want * want).sum().backward()
    for (name, a), b in zip(ref.named_parameters(), model.parameters()):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_conv_transpose3d_output_size_compiled(backend):
    ref, model = _pair(lambda lib: lib.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1))
    x = RNG.standard_normal((1, 3, 3, 4, 2)).astype(np.float32)
    compiled = tc.compile(lambda t: model(t, output_size=(6, 8, 4)), backend=backend)
    np.testing.assert_allclose(compiled(tc.tensor(x)).detach().numpy(),
                               ref(torch.tensor(x), output_size=(6, 8, 4)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
