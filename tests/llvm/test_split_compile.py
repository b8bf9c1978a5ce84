"""A large module compiled in parts, some in a worker process (split_compile.py): the
code must compute what the one-part code does, link from the disk cache, and show its IR
and assembly. The size threshold is lowered so small models split."""
import numpy as np
import pytest

import tracecomp as tc
from tracecomp import nn
from tracecomp.codegen.llvm import kernel_reuse
from tracecomp.codegen.llvm.runtime import engine, split_compile

from helpers import train_step


def _lenet_step(seed=0):
    tc.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 13 * 13, 32), nn.GELU(approximate="tanh"),
                          nn.Linear(32, 10))
    opt = tc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, train_step(model, opt)


def _train(compiled, steps=3):
    model, step = _lenet_step()
    run = tc.compile(step) if compiled else step
    rng = np.random.default_rng(0)
    x = tc.tensor(rng.standard_normal((8, 1, 28, 28)).astype(np.float32))
    y = tc.tensor(rng.integers(0, 10, 8))
    losses = [run(x, y).item() for _ in range(steps)]
    return losses, [p.detach().numpy().copy() for p in model.parameters()], run


@pytest.fixture
def split_everything(monkeypatch):
    monkeypatch.setattr(split_compile, "MIN_DEFINITIONS", 1)
    monkeypatch.delenv("TRACECOMP_COMPILE_WORKERS", raising=False)
    made = []
    compile_module = engine.compile_module

    def spy(*args, **kwargs):
        made.append(compile_module(*args, **kwargs))
        return made[-1]
    monkeypatch.setattr(engine, "compile_module", spy)
    return made


def test_a_split_training_step_trains_as_eagerly(split_everything, monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    (want, want_params, _), (got, got_params, _) = _train(False), _train(True)
    assert any(lib.optimized_parts and len(lib.optimized_parts) > 2
               for lib in split_everything), "no module was split in parts"
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for p, q in zip(got_params, want_params):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)
    split = next(lib for lib in split_everything if lib.optimized_parts)
    parts = len(split.optimized_parts)
    assert split.optimized_ir.startswith(f"; part 1 of {parts}")
    assert split.asm.count("\t.file\t") == parts      # one assembly file per part


def test_split_objects_link_again_from_the_disk_cache(split_everything, monkeypatch,
                                                      tmp_path):
    monkeypatch.setenv("TRACECOMP_CACHE", "1")
    monkeypatch.setenv("TRACECOMP_CACHE_DIR", str(tmp_path))
    first, _, _ = _train(True)
    assert any(lib.optimized_parts for lib in split_everything)
    split_everything.clear()
    kernel_reuse.forget()                   # as a new process: its own kernels
    again, _, _ = _train(True)              # a new compile: every module from the cache
    assert all(lib.optimized_ir is None for lib in split_everything)
    np.testing.assert_array_equal(again, first)


def test_a_module_with_one_entry_and_no_kernels_is_not_split():
    text = ('define void @"entry0"(ptr %".1")\n{\nentry:\n  ret void\n}\n')
    assert split_compile.split(text, ["entry0"]) is None


def test_packed_objects_round_trip():
    blobs = [b"first object", b"", b"third"]
    assert engine.unpack_objects(engine.pack_objects(blobs)) == blobs
    assert engine.unpack_objects(b"plain object") == [b"plain object"]


def test_a_forked_child_starts_its_own_worker(split_everything, monkeypatch):
    """A child forked after a compile must not talk to its parent's worker over the same
    pipes: answers would go to whichever process reads first."""
    import os
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    _train(True, steps=1)
    parent = split_compile._Worker._one
    assert parent is not None
    job = ('define void @"entry0"(ptr %".1")\n{\nentry:\n  ret void\n}\n', ["entry0"], "", 2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                # the child: a worker of its own, which compiles; then leave
        ok = 0
        try:
            child = split_compile._Worker.take()
            ok = int(child is not parent and child.owner == os.getpid() and
                     child.send(*job) and child.receive() is not None)
        finally:
            os.write(write, bytes([ok]))
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"\x01"
    os.waitpid(pid, 0)
    assert split_compile._Worker._one is parent


def test_a_worker_that_fails_leaves_its_parts_to_this_process(split_everything, monkeypatch):
    monkeypatch.setenv("TRACECOMP_CACHE", "0")
    receive = split_compile._Worker.receive
    # the answer is read (the pipes stay in step for later compiles), then taken as failed
    monkeypatch.setattr(split_compile._Worker, "receive", lambda self: receive(self) and None)
    (want, _, _), (got, _, _) = _train(False), _train(True)
    assert any(lib.optimized_parts for lib in split_everything)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _kernel(name):
    return (f'define internal void @"{name}"(ptr %".1")\n{{\nentry:\n'
            f'  store float 1.0, ptr %".1"\n  ret void\n}}')


def test_each_kernel_is_defined_in_one_part_and_declared_in_the_first():
    kernels = [f"kernel{k}" for k in range(11)]
    calls = "".join(f'  call void @"{k}"(ptr %".1")\n' for k in kernels)
    text = "\n".join([_kernel(k) for k in kernels] + [
        f'define void @"entry0"(ptr %".1")\n{{\nentry:\n{calls}  ret void\n}}']) + "\n"
    parts = split_compile.split(text, ["entry0"])
    assert len(parts) == 1 + split_compile.PIECES
    for k in kernels:
        assert f'declare void @"{k}"(ptr)' in parts[0]
        assert sum(f'define void @"{k}"' in p for p in parts[1:]) == 1
    objects, _ = split_compile.compile_parts(parts, ["entry0"], "", 2)
    lib = engine.load_object(engine.pack_objects(objects), ["entry0"])
    import ctypes
    out = np.zeros(1, np.float32)
    lib.cfunc("entry0", None, ctypes.c_void_p)(out.ctypes.data)
    assert out[0] == 1.0
