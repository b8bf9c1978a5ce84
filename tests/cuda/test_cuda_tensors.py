"""Tensors on 'cuda' (numba's simulator here): what torch.cuda answers, moving tensors and
modules between devices, creation on a device, leaving the device (item, printing, numpy's
refusal), in-place updates, errors for mixed devices, saving and loading, and autograd
through a device copy. Values are compared with the same work on the CPU."""
import io

import numpy as np
import pytest

import tracecomp as tc
import tracecomp.nn as nn
import tracecomp.nn.functional as F

CUDA0 = tc.device("cuda", 0)


def test_torch_cuda_answers_from_the_device_numba_finds():
    assert tc.cuda.is_available() and tc.cuda.device_count() == 1
    assert isinstance(tc.cuda.get_device_name(0), str)
    assert len(tc.cuda.get_device_capability(0)) == 2
    assert tc.cuda.get_device_properties(0).name == tc.cuda.get_device_name(0)
    assert tc.accelerator.current_accelerator() == tc.device("cuda")
    tc.cuda.synchronize()


def test_tensors_move_to_the_device_and_back_with_their_values():
    x = tc.randn(3, 4)
    for on in (x.to("cuda"), x.cuda(), x.to(CUDA0), x.to("cuda", tc.float64),
               x.to(device="cuda:0")):
        assert on.device == CUDA0 and on.is_cuda and not on.is_cpu and on.get_device() == 0
        back = on.cpu()
        assert back.device == tc.device("cpu") and back.get_device() == -1
        np.testing.assert_array_equal(back.numpy(), x.numpy().astype(back.numpy().dtype))
    on = x.cuda()
    assert on.cuda() is on and x.cpu() is x and on.to("cuda") is on
    assert on.to(x).device == tc.device("cpu") and x.to(on).device == CUDA0


def test_creation_functions_put_tensors_on_the_device_they_are_given():
    made = [tc.zeros(2, 3, device="cuda"), tc.ones(2, device=CUDA0), tc.full((2,), 7.0,
            device="cuda"), tc.arange(5, device="cuda"), tc.eye(3, device="cuda"),
            tc.tensor([[1, 2], [3, 4]], device="cuda"), tc.randn(4, device="cuda"),
            tc.linspace(0, 1, 5, device="cuda")]
    assert all(t.device == CUDA0 for t in made)
    np.testing.assert_array_equal(made[5].cpu().numpy(), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(made[3].cpu().numpy(), np.arange(5))
    x = made[0]
    assert tc.zeros_like(x).device == CUDA0 and tc.randn_like(x).device == CUDA0
    assert x.new_zeros(4).device == CUDA0 and x.new_tensor([1.0]).device == CUDA0
    assert tc.zeros_like(x, device="cpu").device == tc.device("cpu")
    with tc.device("cuda"):
        assert tc.zeros(2).device == CUDA0
    assert tc.zeros(2).device == tc.device("cpu")
    leaf = tc.ones(3, requires_grad=True, device="cuda")
    assert leaf.is_leaf and leaf.requires_grad and leaf.device == CUDA0


def test_leaving_the_device_copies_and_numpy_refuses_as_torch_does():
    x = tc.tensor([1.5, -2.0], device="cuda")
    assert x[0].item() == 1.5 and x.tolist() == [1.5, -2.0] and float(x[1]) == -2.0
    assert repr(x) == "tensor([ 1.5000, -2.0000], device='cuda:0')"
    assert repr(tc.tensor([1, 2], device="cuda", dtype=tc.int32)) == \
        "tensor([1, 2], device='cuda:0', dtype=tc.int32)".replace("tc.", "tracecomp.")
    for leave in (x.numpy, lambda: np.asarray(x)):
        with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to "
                                            "numpy. Use Tensor.cpu()"):
            leave()


def test_mixing_devices_is_refused_but_a_0d_cpu_tensor_goes_anywhere():
    x, y = tc.ones(3, device="cuda"), tc.ones(3)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, "
                                           "but found at least two devices, cuda:0 and cpu"):
        x + y
    np.testing.assert_array_equal((x * tc.tensor(2.0)).cpu().numpy(), [2, 2, 2])


def test_in_place_updates_reach_every_tensor_sharing_the_storage():
    x = tc.zeros(2, 3, device="cuda")
    alias, detached = x.data, x.detach()
    x.add_(1.0)
    x[0] = tc.tensor([5.0, 6.0, 7.0], device="cuda")
    x.mul_(2)
    want = np.array([[10, 12, 14], [2, 2, 2]], np.float32)
    for t in (x, alias, detached):
        np.testing.assert_array_equal(t.cpu().numpy(), want)
    x.copy_(tc.ones(2, 3))                  # from the CPU, as torch allows
    x.zero_()
    np.testing.assert_array_equal(x.cpu().numpy(), np.zeros((2, 3)))
    assert x.device == CUDA0


def test_an_in_place_update_of_a_device_view_reaches_the_tensor_it_was_taken_from():
    x, want = tc.zeros(3, 4, device="cuda"), np.zeros((3, 4), np.float32)
    x[1].add_(1.0)
    want[1] += 1
    x[:, 1::2].mul_(0).add_(5)                  # a strided slice
    want[:, 1::2] = 5
    x.t()[0].fill_(-1)                          # a row of a transpose: a column
    want[:, 0] = -1
    x.view(12)[::5].zero_()
    want.reshape(12)[::5] = 0
    x[2] += 3
    want[2] += 3
    np.testing.assert_array_equal(x.cpu().numpy(), want)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        x[0].expand(2, 4).add_(1.0)


def test_gradients_flow_back_through_a_device_copy():
    w = tc.randn(3, 2, requires_grad=True)
    x = tc.randn(4, 3)
    loss = (x.cuda() @ w.to("cuda")).tanh().sum()
    loss.backward()
    w_cpu = w.detach().clone().requires_grad_()
    (x @ w_cpu).tanh().sum().backward()
    assert w.grad.device == tc.device("cpu")
    np.testing.assert_allclose(w.grad.numpy(), w_cpu.grad.numpy(), rtol=1e-5, atol=1e-6)


def _mlp(seed=0):
    tc.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_modules_move_whole_and_keep_their_parameters_identity():
    model = _mlp()
    weight = model[0].weight
    assert model.to("cuda") is model and model[0].weight is weight
    assert all(p.device == CUDA0 for p in model.parameters())
    assert all(v.device == CUDA0 for v in model.state_dict().values())
    model.cpu()
    assert all(p.device == tc.device("cpu") for p in model.parameters())
    model.cuda()
    bn = nn.BatchNorm1d(4).to("cuda")
    assert bn.running_mean.device == CUDA0 and bn.num_batches_tracked.device == CUDA0
    made = nn.Linear(3, 2, device="cuda")
    assert made.weight.device == CUDA0 and made.bias.device == CUDA0 and made.weight.is_leaf


def test_state_dicts_save_from_the_device_and_load_where_they_were_saved():
    model = _mlp().cuda()
    buf = io.BytesIO()
    tc.save(model.state_dict(), buf)
    for where, want in ((None, CUDA0), ("cpu", tc.device("cpu")),
                        ({"cuda:0": "cpu"}, tc.device("cpu"))):
        buf.seek(0)
        state = tc.load(buf, map_location=where)
        assert all(v.device == want for v in state.values()), where
    other = _mlp(seed=1).cuda()
    other.load_state_dict(state)                # CPU values into device parameters
    assert other[0].weight.device == CUDA0
    np.testing.assert_array_equal(other[0].weight.detach().cpu().numpy(),
                                  model[0].weight.detach().cpu().numpy())
    buf.seek(0)
    on_cpu = _mlp(seed=2)
    on_cpu.load_state_dict(tc.load(buf))        # device values into CPU parameters
    assert on_cpu[0].weight.device == tc.device("cpu")
    np.testing.assert_array_equal(on_cpu[0].weight.detach().numpy(),
                                  model[0].weight.detach().cpu().numpy())


def test_pinning_host_memory_is_accepted_where_there_is_an_accelerator():
    x = tc.ones(2)
    assert x.pin_memory() is x


def _step(model, opt):
    """The training step: forward, loss, backward and the optimizer's update."""
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _train(model, x, y, steps, compiled=False):
    step = _step(model, tc.optim.Adam(model.parameters(), lr=0.05))
    run = tc.compile(step) if compiled else step
    return [run(x, y).item() for _ in range(steps)]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_training_step_on_the_device_matches_the_cpu(compiled):
    x, y = tc.randn(16, 6), tc.randint(0, 3, (16,))
    on_cpu, on_gpu = _mlp(), _mlp().to("cuda")
    want = _train(on_cpu, x, y, 3)
    got = _train(on_gpu, x.cuda(), y.cuda(), 3, compiled)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for p, q in zip(on_gpu.parameters(), on_cpu.parameters()):
        assert p.device == CUDA0 and p.grad.device == CUDA0
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().numpy(),
                                   rtol=1e-4, atol=1e-6)


class _ConvNet(nn.Module):
    """The digits example's ConvNet, small: convolution, batch norm, pooling, dropout."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * 9, 3))

    def forward(self, x):
        return self.classifier(self.features(x))


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_a_convnet_step_on_the_device_matches_the_cpu(compiled):
    x, y = tc.rand(2, 1, 6, 6), tc.tensor([0, 2])
    tc.manual_seed(0)
    on_cpu = _ConvNet()
    on_gpu = _ConvNet().cuda()
    on_gpu.load_state_dict(on_cpu.state_dict())
    tc.manual_seed(1)           # the same dropout masks: both draw on the host
    want = _train(on_cpu, x, y, 2)
    tc.manual_seed(1)
    got = _train(on_gpu, x.cuda(), y.cuda(), 2, compiled)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for (name, p), q in zip(on_gpu.state_dict().items(), on_cpu.state_dict().values()):
        assert p.device == CUDA0, name
        np.testing.assert_allclose(p.cpu().numpy(), q.numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_compiled_code_keeps_parameters_and_optimizer_state_on_the_device():
    model = _mlp().cuda()
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    step = tc.compile(_step(model, opt))

    x, y = tc.randn(8, 6, device="cuda"), tc.randint(0, 3, (8,), device="cuda")
    weight, box = model[0].weight, model[0].weight._data
    before = weight.detach().cpu().numpy()
    loss = step(x, y)
    for _ in range(2):
        step(x, y)
    assert loss.device == CUDA0 and weight._data is box        # updated in its storage
    assert not np.array_equal(weight.detach().cpu().numpy(), before)
    assert opt.state[weight]["momentum_buffer"].device == CUDA0
    assert step.compiles == 2       # the first step, then every step with momentum buffers


def test_compile_picks_its_backend_by_device_and_refuses_a_cpu_backend_for_device_tensors():
    model = _mlp()
    compiled = tc.compile(model)
    x = tc.randn(2, 6)
    want = compiled(x).detach().numpy()
    model.cuda()
    got = compiled(x.cuda())
    assert got.device == CUDA0
    np.testing.assert_allclose(got.detach().cpu().numpy(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        compiled(x)
    with pytest.raises(tc.errors.LoweringError, match="compile\\(backend='llvm'\\) runs on "
                                                      "the CPU"):
        tc.compile(model, backend="llvm")(x.cuda())


def test_a_grad_scaler_steps_device_parameters_as_plain_sgd_does():
    """AMP's loss scaling on the device: the scaled gradients are unscaled (and checked for
    infs) where they live; a power-of-two scale makes the step exactly SGD's."""
    x, y = tc.randn(8, 6), tc.randint(0, 3, (8,))
    on_gpu, on_cpu = _mlp().cuda(), _mlp()
    scaler = tc.amp.GradScaler("cuda")
    opt = tc.optim.SGD(on_gpu.parameters(), lr=0.1)
    scaler.scale(F.cross_entropy(on_gpu(x.cuda()), y.cuda())).backward()
    scaler.step(opt)
    scaler.update()
    F.cross_entropy(on_cpu(x), y).backward()
    tc.optim.SGD(on_cpu.parameters(), lr=0.1).step()
    for p, q in zip(on_gpu.parameters(), on_cpu.parameters()):
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_value_questions_and_data_shaped_results_on_device_tensors():
    """allclose/equal answer from the values; nonzero's shape depends on them: worked out
    on the host, its indices put back on the device."""
    x = tc.tensor([[0.0, 1.0], [2.0, 0.0]], device="cuda")
    assert tc.allclose(x, x + 1e-9) and tc.equal(x, x.clone()) and not tc.equal(x, x * 2)
    rows, cols = x.nonzero(as_tuple=True)
    assert rows.device == CUDA0 and x.nonzero().device == CUDA0
    np.testing.assert_array_equal(x.nonzero().cpu().numpy(), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(x[rows, cols].cpu().numpy(), [1.0, 2.0])


def test_data_parallel_on_one_gpu_moves_the_inputs_to_it():
    """torch's DataParallel with one device id: inputs go to cuda:0, where the module's
    parameters must already be; several devices are refused (one GPU here)."""
    inner = _mlp()
    model = nn.DataParallel(_mlp()).cuda()
    x = tc.randn(4, 6)
    out = model(x)                              # a CPU batch, as loaders give
    assert out.device == CUDA0 and model.device_ids == [0]
    assert list(model.state_dict())[0] == "module.0.weight"
    np.testing.assert_allclose(out.detach().cpu().numpy(), inner(x).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="must have its parameters and buffers on device "
                                           "cuda:0"):
        nn.DataParallel(_mlp())(x)
    with pytest.raises(NotImplementedError, match="DataParallel over several devices"):
        nn.DataParallel(_mlp(), device_ids=[0, 1])


def test_a_changing_python_number_reuses_one_eager_kernel():
    """x * lr for a new lr each step (a learning-rate schedule) runs one compiled kernel: the
    number goes in as a 0-d device value, with the dtype the kernel converts it to."""
    from tracecomp import devices
    compiled = devices.backend("cuda").compiled
    x = tc.randn(5, device="cuda")
    x * 0.5                                     # compiles
    before = len(compiled)
    for lr in (0.1, 0.2, 0.37, 1e-3):
        np.testing.assert_array_equal((x * lr).cpu().numpy(), x.cpu().numpy() * np.float32(lr))
    assert len(compiled) == before
    ints = tc.arange(4, device="cuda")
    assert (ints * 0.5).dtype == tc.float32 and (ints + 2).dtype == tc.int64    # as torch
    np.testing.assert_array_equal((ints * 0.5).cpu().numpy(), [0, 0.5, 1, 1.5])


def test_as_tensor_tensor_and_index_creators_take_their_device():
    x = tc.ones(3)
    on = tc.as_tensor(x, tc.float32, "cuda")            # device given positionally
    assert on.device == CUDA0 and tc.as_tensor(on) is on
    assert tc.as_tensor(on, device="cpu").device == tc.device("cpu")
    assert tc.as_tensor(np.zeros(2), device="cuda").device == CUDA0
    copied = tc.tensor(on)                              # a copy, on the tensor's device
    assert copied.device == CUDA0 and copied.tolist() == [1.0, 1.0, 1.0]
    assert tc.tensor(on, device="cpu").device == tc.device("cpu")
    rows = tc.tril_indices(3, 3, device="cuda")
    assert rows.device == CUDA0 and tc.triu_indices(3, 3, device="cuda").device == CUDA0
    np.testing.assert_array_equal(rows.cpu().numpy(), np.stack(np.tril_indices(3)))
