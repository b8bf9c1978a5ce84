"""Models written once and built against either library (torch or tracecomp), for the fx
tests: `build(lib)` returns the model classes with lib's nn, functional and functions, and
`node_list` / `torch_code` put both graphs in comparable form."""
import operator

import torch

import tracecomp as tc

from helpers import with_torch_weights


def build(lib):
    nn, F = lib.nn, lib.nn.functional

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)
            self.act = nn.ReLU()

        def forward(self, x):
            return F.log_softmax(self.fc2(self.act(self.fc1(x.flatten(1)))), dim=-1)

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return lib.relu(out + x)

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU())
            self.layer = nn.Sequential(Block(8), Block(8))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(8, 5)
            self.scale = nn.Parameter(lib.ones(5))

        def forward(self, x):
            x = self.layer(self.stem(x))
            x = lib.flatten(self.pool(x), 1)
            y = self.head(x) * self.scale
            return y.view(y.size(0), -1), y.shape[1]

    class Flagged(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x, mode, scale=2.0):
            if mode == "double":
                return self.fc(x) * scale
            return self.fc(x) - x

    return {"MLP": MLP, "Block": Block, "CNN": CNN, "Flagged": Flagged}


def twin(name, *args, seed=0):
    """The torch model and a tracecomp one with its weights, both in eval mode."""
    torch.manual_seed(seed)
    ref = build(torch)[name](*args).eval()
    ours = with_torch_weights(build(tc)[name](*args), ref).eval()
    return ours, ref


def _target_name(node):
    t = node.target
    if isinstance(t, str):
        return t
    if getattr(operator, getattr(t, "__name__", ""), None) is t:
        return f"operator.{t.__name__}"
    return t.__name__


def node_list(gm):
    """(op, name, target name, number of args) per node."""
    return [(n.op, n.name, _target_name(n), len(n.args)) for n in gm.graph.nodes]


def torch_code(text):
    """Our generated code (or printed graph) in torch's spelling."""
    return text.replace("tracecomp.", "torch.")
