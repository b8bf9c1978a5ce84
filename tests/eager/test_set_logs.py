"""tracecomp._logging.set_logs (torch._logging.set_logs): torch's names for its compile logs
turn on the TRACECOMP_DEBUG level that logs the same stage; the environment variable takes
precedence; a name torch does not have is torch's TypeError."""
import logging

import pytest
import torch

import tracecomp as tc
from tracecomp import debug_log


@pytest.fixture
def logs(monkeypatch, caplog):
    monkeypatch.delenv("TRACECOMP_DEBUG", raising=False)
    caplog.set_level(logging.INFO, logger="tracecomp")
    yield caplog
    tc._logging.set_logs()


def _compile_twice():
    f = tc.compile(lambda x: x * 2 + 1)
    f(tc.ones(2))
    f(tc.ones(3))


@pytest.mark.parametrize("settings, level", [
    ({"recompiles": True}, 1), ({"graph_breaks": True, "guards": True}, 1),
    ({"graph_code": True}, 2), ({"aot_graphs": True}, 2), ({"fusion": True}, 3),
    ({"output_code": True}, 4), ({"dynamo": logging.DEBUG}, 2), ({"dynamo": logging.INFO}, 1),
    ({"dynamo": logging.WARNING}, 0), ({"all": logging.DEBUG}, 6),
    ({"cudagraphs": True, "distributed": logging.DEBUG}, 0), ({}, 0),
])
def test_each_name_sets_the_level_of_its_stage(logs, settings, level):
    tc._logging.set_logs(**settings)
    assert debug_log.debug_level() == level


def test_recompiles_logs_why_a_call_compiled_again_and_set_logs_turns_it_off(logs):
    tc._logging.set_logs(recompiles=True)
    _compile_twice()
    assert any("x dim 0: 2 -> 3" in r.getMessage() for r in logs.records)
    logs.clear()
    tc._logging.set_logs()
    _compile_twice()
    assert not logs.records


def test_output_code_logs_the_llvm_ir(logs):
    tc._logging.set_logs(output_code=True)
    _compile_twice()
    assert any("define " in r.getMessage() for r in logs.records)


def test_the_environment_variable_takes_precedence(logs, monkeypatch):
    monkeypatch.setenv("TRACECOMP_DEBUG", "0")
    tc._logging.set_logs(recompiles=True)
    assert debug_log.debug_level() == 0


def test_a_name_torch_lacks_is_torchs_type_error():
    with pytest.raises(TypeError) as want:
        torch._logging.set_logs(recompile=True)
    with pytest.raises(TypeError) as got:
        tc._logging.set_logs(recompile=True)
    assert str(got.value) == str(want.value)


def test_every_keyword_of_torchs_set_logs_is_accepted():
    import inspect
    names = inspect.signature(torch._logging.set_logs).parameters
    for name in names:
        tc._logging.set_logs(**{name: None if name == "modules" else logging.INFO
                                if names[name].default is None else True})
    tc._logging.set_logs()
