"""tracecomp.autograd.profiler and tracecomp.profiler (the profiler recipes' API): every
op, backward node, compiled call and record_function span inside the block is one event,
counted as often as it ran, self time = total less children; schedules keep the steps
torch's keep; traces export as Chrome JSON."""
import json

import pytest
import torch

import tracecomp as tc
from tracecomp import dispatch


def _counts(prof):
    return {e.key: e.count for e in prof.key_averages()}


def test_ops_and_backward_nodes_are_counted():
    x = tc.randn(2, 3, requires_grad=True)
    y = tc.rand(2, 3, requires_grad=True)
    z = tc.ones(2, 3, requires_grad=True)
    with tc.autograd.profiler.profile() as forward:
        for _ in range(50):
            z = (z / x) * y
    assert _counts(forward) == {"div": 50, "mul": 50}
    with tc.autograd.profiler.profile() as prof:
        z.sum().backward()
    counts = _counts(prof)
    assert counts["autograd::engine::evaluate_function: MulBackward0"] == 50
    assert counts["autograd::engine::evaluate_function: DivBackward0"] == 50
    for e in prof.key_averages():
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total + 1e-9
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=3)
    assert "Self CPU time total:" in table and len(table.splitlines()) == 3 + 3 + 2  # rows
    assert dispatch.trace_hook is None


def test_record_function_nests_and_compiled_calls_are_one_event():
    f = tc.compile(lambda a: (a * 2 + 1).relu())
    f(tc.ones(4))
    with tc.profiler.profile(record_shapes=True) as prof:
        with tc.profiler.record_function("outer"):
            a = tc.ones(4) * 3
            f(a)
    events = {e.name: e for e in prof.function_events}
    outer = events["outer"]
    inner = [e for e in prof.function_events if e is not outer]
    assert "mul" in events and any(n.startswith("CompiledFunction: ") for n in events)
    assert "relu" not in events     # inside compiled code: its kernel, not an op
    assert outer.self_cpu_time_total == pytest.approx(
        outer.cpu_time_total - sum(e.cpu_time_total for e in inner), abs=1e-3)
    assert events["mul"].input_shapes == ((4,),)


def test_schedule_keeps_the_steps_torch_keeps():
    def run(lib):
        saved = []
        with lib.profiler.profile(
                schedule=lib.profiler.schedule(wait=1, warmup=1, active=2, repeat=2,
                                               skip_first=1),
                on_trace_ready=lambda p: saved.append(sorted(
                    e.key for e in p.key_averages() if e.key.startswith("step")))) as prof:
            for step in range(12):
                with lib.profiler.record_function(f"step{step}"):
                    lib.ones(2) + 1
                prof.step()
        return saved
    assert run(tc) == run(torch)


def test_chrome_trace_and_tensorboard_handler(tmp_path):
    with tc.autograd.profiler.profile() as prof:
        tc.ones(3) * 2
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    events = json.loads(path.read_text())["traceEvents"]
    assert [e["name"] for e in events] == ["full", "mul"]
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)
    with tc.profiler.profile(on_trace_ready=tc.profiler.tensorboard_trace_handler(
            str(tmp_path / "tb"), worker_name="w")):
        tc.ones(3) + 1
    written = list((tmp_path / "tb").iterdir())
    assert len(written) == 1 and written[0].name.startswith("w.")
    assert json.loads(written[0].read_text())["traceEvents"]


def test_an_error_inside_the_block_stops_recording():
    with pytest.raises(ValueError), tc.autograd.profiler.profile():
        tc.ones(2) * 2
        raise ValueError
    assert dispatch.trace_hook is None
    with pytest.raises(RuntimeError, match="didn't finish"):
        tc.autograd.profiler.profile().key_averages()
