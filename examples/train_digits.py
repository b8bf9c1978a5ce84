"""Train an MLP and a small CNN on real handwritten digits, torch-style, with tracecomp:
each model eagerly, then compiled (`tracecomp.compile(model)`) from the same initial
weights, and the two runs side by side.

The code is ordinary PyTorch code: only the imports name tracecomp. By default it uses
scikit-learn's bundled 8x8 digits (1,797 images, offline); `--mnist-dir DIR` trains on real
MNIST IDX files instead (train-images-idx3-ubyte[.gz] etc. in DIR).

    python examples/train_digits.py                 # both models on 8x8 digits
    python examples/train_digits.py --epochs 3 --mnist-dir ~/data/mnist
    python examples/train_digits.py --device cuda   # on a GPU (pip install tracecomp[cuda])

It ends with a picture of the runs (build/demo/curves.png, or --plot PATH): each model's
training loss per epoch, eager and compiled, and the median time of a training step.
"""
import argparse
import os
import sys
import tempfile
import time

import tracecomp as torch
import tracecomp.nn as nn
import tracecomp.nn.functional as F
from tracecomp.cli import dump_compiled
from tracecomp.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    def __init__(self, pixels, hidden=128, classes=10):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(pixels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class ConvNet(nn.Module):
    def __init__(self, side, classes=10):
        super().__init__()
        # no bias before BatchNorm: it would be cancelled, and its gradient is pure rounding
        # noise that Adam would turn into a random walk
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.1),
                                        nn.Linear(32 * (side // 4) ** 2, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def load_digits_8x8():
    """scikit-learn's bundled 8x8 digits, as (N, 1, 8, 8) float32 in [0, 1] and int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("the 8x8 digits come with scikit-learn: pip install scikit-learn "
                 "(or pass --mnist-dir with MNIST IDX files)")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return images, torch.tensor(digits.target, dtype=torch.int64)


def load_mnist_dir(root):
    from tracecomp.utils.data import load_mnist
    splits = []
    for train in (True, False):
        images, labels = load_mnist(root, train=train)
        splits.append((images.float().unsqueeze(1) / 255.0, labels.long()))
    return splits


def split(images, labels, test_fraction=0.2, seed=0):
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def progress(epoch, epochs, loss, acc, seconds, width=20):
    """One tqdm-style line per epoch."""
    bar = "#" * width
    return (f"epoch {epoch:2d}/{epochs} [{bar}] 100% | loss {loss:.4f} | "
            f"test acc {acc * 100:5.1f}% | {seconds:5.2f}s")


def evaluate(model, images, labels, batch_size=512, device="cpu"):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            x, y = images[i:i + batch_size].to(device), labels[i:i + batch_size].to(device)
            correct += (model(x).argmax(dim=1) == y).sum().item()
    model.train()
    return correct / len(labels)


def train(name, model, train_set, test_set, epochs, lr, compiled=False, batch_size=64,
          device="cpu"):
    """Returns (test accuracy, median seconds per training step, {"loss": mean training loss
    per epoch, "step": median seconds per step per epoch}). compiled=True compiles the whole
    step (forward, loss, backward and Adam's update) into one graph of native kernels."""
    print(f"\n== {name}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"on {device} ==")
    model.to(device)
    loader = DataLoader(TensorDataset(*train_set), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    if compiled:
        step = torch.compile(step)
        model.compiled_step = step          # kept for the dump at the end
    acc, step_times, curves = 0.0, [], {"loss": [], "step": []}
    for epoch in range(1, epochs + 1):
        start, total, batches, epoch_times = time.perf_counter(), 0.0, 0, []
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            tick = time.perf_counter()
            loss = step(x, y)
            epoch_times.append(time.perf_counter() - tick)
            total, batches = total + loss.item(), batches + 1
        acc = evaluate(model, *test_set, device=device)
        print(progress(epoch, epochs, total / batches, acc, time.perf_counter() - start),
              flush=True)
        curves["loss"].append(total / batches)
        curves["step"].append(median(epoch_times))
        step_times += epoch_times
    # the median step: the first compiled steps include compiling
    return acc, median(step_times), curves


def median(values):
    return sorted(values)[len(values) // 2]


def save_and_reload(model, fresh, test_set):
    """Weights survive a round trip through tracecomp.save / tracecomp.load."""
    path = os.path.join(tempfile.mkdtemp(), "model.tcsave")
    torch.save(model.state_dict(), path)
    fresh.load_state_dict(torch.load(path))
    return path, evaluate(fresh, *test_set)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist-dir", help="folder with MNIST IDX files (default: 8x8 digits)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (tensors and the "
                        "compiled steps on the GPU)")
    parser.add_argument("--dump-dir", default="tracecomp_dump/digits",
                        help="where the compiled step's stages are written ('' for nowhere)")
    parser.add_argument("--plot", default=os.path.join("build", "demo", "curves.png"),
                        help="where the loss and step-time curves are drawn (a PNG; needs "
                        "matplotlib; '' for none)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    if args.mnist_dir:
        train_set, test_set = load_mnist_dir(args.mnist_dir)
        side, epochs = 28, args.epochs or 2
    else:
        train_set, test_set = split(*load_digits_8x8())
        side, epochs = 8, args.epochs or 12
    print(f"data: {len(train_set[1])} training and {len(test_set[1])} test images of "
          f"{side}x{side} pixels")

    results = {}
    # ConvNet's lr: its first conv feeds BatchNorm, so only the direction of its weights
    # matters, and Adam scales up the rounding noise in their gradient. At 3e-3 that noise
    # grew to a 4e-2 weight difference between the eager and compiled runs for some seeds
    # and products (1e-6 for others); at 2e-3 both runs stay within 1e-6, as accurate.
    for name, make, lr in (("MLP", lambda: MLP(side * side), 1e-3),
                           ("ConvNet", lambda: ConvNet(side), 2e-3)):
        model, twin = make(), make()
        twin.load_state_dict(model.state_dict())        # the same start for both runs
        torch.manual_seed(args.seed)
        eager = train(name + ", eager", model, train_set, test_set, epochs, lr,
                      device=args.device)
        torch.manual_seed(args.seed)                    # the same dropout masks too
        compiled = train(name + ", compiled", twin, train_set, test_set, epochs, lr,
                         compiled=True, device=args.device)
        about = (f"The compiled training step of {name} in examples/train_digits.py "
                 f"(forward, loss, backward and Adam, one graph).")
        dump = dump_compiled(twin.compiled_step, os.path.join(args.dump_dir, name),
                             name + " step", about=[about]) if args.dump_dir else None
        drift = max(float((a - b).abs().max()) for a, b in
                    zip(model.state_dict().values(), twin.state_dict().values()))
        results[name] = {"eager": eager[0], "compiled": compiled[0], "drift": drift, "dump": dump,
                         "eager_step": eager[1], "compiled_step": compiled[1],
                         "eager_curves": eager[2], "compiled_curves": compiled[2]}
        path, reloaded = save_and_reload(model, make(), test_set)
        print(f"saved to {path}; reloaded model's test accuracy {reloaded * 100:.1f}% "
              f"({'same' if reloaded == eager[0] else 'DIFFERENT'})")
    for name, r in results.items():
        if r["dump"]:
            print(f"\nthe compiled {name} training step, stage by stage (graphs, LLVM IR, "
                  f"assembly): {r['dump']}")
    print("\n| model | eager acc | compiled acc | eager ms/step | compiled ms/step | speed-up "
          "| max weight difference |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['eager'] * 100:.1f}% | {r['compiled'] * 100:.1f}% | "
              f"{r['eager_step'] * 1e3:.2f} | {r['compiled_step'] * 1e3:.2f} | "
              f"{r['eager_step'] / r['compiled_step']:.2f}x | {r['drift']:.1e} |")
    if args.plot:
        plot_curves(results, args.plot, f"{side}x{side} digits, {device_name(args.device)}")
    return results


def device_name(device):
    return "GPU" if device.startswith("cuda") else "CPU"


def plot_curves(results, path, about):
    """Draw each model's loss per epoch and median step time, eager vs compiled, into
    `path` (a PNG); returns the path, or None without matplotlib (said in one line)."""
    try:
        # a bare Figure, not pyplot: it draws with Agg and opens no window
        from matplotlib.figure import Figure
    except ImportError:
        print("\nno curves picture: matplotlib is not installed (pip install 'tracecomp[demo]')")
        return None
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, time_ax = fig.subplots(1, 2)
    for k, (name, r) in enumerate(results.items()):
        colour = f"C{k}"
        for mode, style in (("eager", "-o"), ("compiled", "--x")):
            curves = r[f"{mode}_curves"]
            epochs = range(1, len(curves["loss"]) + 1)
            loss_ax.plot(epochs, curves["loss"], style, color=colour, label=f"{name}, {mode}")
            time_ax.plot(epochs, [s * 1e3 for s in curves["step"]], style, color=colour,
                         label=f"{name}, {mode}")
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="mean loss")
    time_ax.set(title="time per training step (median of the epoch)", xlabel="epoch",
                ylabel="ms (log scale)", yscale="log")
    for ax in (loss_ax, time_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"tracecomp: eager vs compiled training ({about})")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"\nloss and step-time curves: {path}")
    return path


if __name__ == "__main__":
    main()
