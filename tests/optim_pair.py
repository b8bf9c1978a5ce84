"""One optimizer built twice, in tracecomp and in torch, over the same parameters: the
optimizer tests (tests/eager/test_optim*.py) step both with the same gradients and compare
parameters, state and state_dicts after every step."""
import torch

import tracecomp as tc
import tracecomp.optim as optim
from tests.helpers import assert_close


def torch_kwargs(kwargs):
    """torch picks foreach by default when it can: pin the single-tensor path we follow,
    unless the case is about foreach or fused."""
    return kwargs if "foreach" in kwargs or "fused" in kwargs else {**kwargs, "foreach": False}


class Pair:
    """The same optimizer over the same parameters in tracecomp and in torch."""

    def __init__(self, name, kwargs, params, groups=None):
        self.tc_params = [tc.tensor(p.copy(), requires_grad=True) for p in params]
        self.pt_params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
        self.name, self.kwargs = name, kwargs
        self.tc = getattr(optim, name)(self._groups(self.tc_params, groups), **kwargs)
        self.pt = getattr(torch.optim, name)(self._groups(self.pt_params, groups),
                                             **torch_kwargs(kwargs))

    @staticmethod
    def _groups(params, groups):
        if groups is None:
            return params
        return [{**g, "params": [params[i] for i in g["params"]]} for g in groups]

    def step(self, grads):
        for p, q, g in zip(self.tc_params, self.pt_params, grads):
            p.grad = None if g is None else tc.tensor(g.copy())
            q.grad = None if g is None else torch.tensor(g.copy())
        self.tc.step()
        self.pt.step()

    def check(self, what):
        for i, (p, q) in enumerate(zip(self.tc_params, self.pt_params)):
            assert_close(p, q, rtol=1e-5, atol=1e-6, what=f"{what} param {i}")
        check_state(self.tc.state_dict(), self.pt.state_dict(), what)


def check_state(got, want, what):
    """tracecomp's optimizer state_dict `got` against torch's `want`: the same state per
    parameter and the same param_groups (foreach compared where ours says one)."""
    assert set(got["state"]) == set(want["state"]), f"{what}: state indices"
    for i, s in want["state"].items():
        assert set(got["state"][i]) == set(s), f"{what}: state keys of param {i}"
        for k, v in s.items():
            assert_close(got["state"][i][k], v, rtol=1e-5, atol=1e-6,
                         what=f"{what} state[{i}][{k!r}]")
    assert len(got["param_groups"]) == len(want["param_groups"])
    for g, w in zip(got["param_groups"], want["param_groups"]):
        assert list(g) == list(w), f"{what}: param_group keys"
        for k, v in w.items():
            if k != "foreach" or g[k] is not None:       # the tests pin torch's foreach
                assert g[k] == v, f"{what}: param_group[{k!r}]: tracecomp={g[k]} | torch={v}"
