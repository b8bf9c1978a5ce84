"""A two-layer MLP (784-256-10, ReLU): the smallest model worth looking inside.

    python examples/mlp.py                                  # a few training steps
    tracecomp dump examples/mlp.py:MLP --input 64x784       # every compile stage, on disk

The class takes no constructor arguments, so `tracecomp dump` can build it by name.
"""
import tracecomp as torch
import tracecomp.nn.functional as F
from tracecomp import nn


class MLP(nn.Module):
    def __init__(self, inputs=784, hidden=256, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def main():
    torch.manual_seed(0)
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # random images and labels: the loss falls because the model memorises this batch
    x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))
    for step in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        print(f"step {step}: loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
