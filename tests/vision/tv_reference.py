"""Small EfficientNet, ViT and DenseNet configurations built the same way from torchvision
and from tracecomp.vision, the deterministic weights both get, and the recorder of
torchvision's outputs in torchvision_outputs.json (test_vision_models_more.py compares).

The builders take a `models` namespace (torchvision.models or tracecomp.vision.models) and
an `nn` (torch.nn or tracecomp.nn), whose names agree, so one definition serves both.
Regenerate with real torchvision (CI has none; the tests only read the JSON):

    python tests/vision/tv_reference.py     # with torchvision importable
    TVSHIM=/path/to/shim.py python tests/vision/tv_reference.py   # a script run first that
                                                # makes torchvision importable
"""
import json
import os
from functools import partial

import numpy as np

OUTPUTS = os.path.join(os.path.dirname(__file__), "torchvision_outputs.json")
BATCH, SIZE = 2, 32


def _effnet(models, nn, dropout=0.2, **kw):
    e = models.efficientnet
    # both block kinds, expansion and none, strides 1 and 2, kernels 3 and 5, SE, shortcut
    setting = [e.FusedMBConvConfig(1, 3, 1, 16, 16, 2),
               e.FusedMBConvConfig(4, 3, 2, 16, 24, 1),
               e.MBConvConfig(4, 5, 2, 24, 32, 2),
               e.MBConvConfig(6, 3, 1, 32, 40, 1)]
    return e.EfficientNet(setting, dropout, last_channel=64, num_classes=10,
                          norm_layer=partial(nn.BatchNorm2d, eps=1e-3), **kw)


def _vit(models, nn, **kw):
    return models.vision_transformer.VisionTransformer(
        image_size=SIZE, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64,
        num_classes=10, **kw)


def _vit_stem(models, nn, **kw):
    v = models.vision_transformer
    stem = [v.ConvStemConfig(8, 3, 2), v.ConvStemConfig(16, 3, 2)]  # strides 2 * 2 = patch 4
    return v.VisionTransformer(image_size=16, patch_size=4, num_layers=1, num_heads=2,
                               hidden_dim=16, mlp_dim=32, num_classes=10,
                               representation_size=12, conv_stem_configs=stem, **kw)


def _densenet(models, nn, **kw):
    return models.densenet.DenseNet(growth_rate=8, block_config=(2, 3, 2, 2),
                                    num_init_features=16, bn_size=2, num_classes=10, **kw)


# name -> (builder, input size, builder kwargs that make train mode deterministic)
CASES = {
    "efficientnet_b0": (lambda m, nn, **kw: m.efficientnet_b0(num_classes=10, **kw), SIZE,
                        {"dropout": 0.0, "stochastic_depth_prob": 0.0}),
    "efficientnet_small": (_effnet, SIZE, {"dropout": 0.0, "stochastic_depth_prob": 0.0}),
    "vit_small": (_vit, SIZE, {}),
    "vit_stem": (_vit_stem, 16, {}),
    "densenet_small": (_densenet, SIZE, {}),
}


def weights(shapes, seed=0):
    """{key: array} for [(key, shape, dtype)] in state_dict order: matrices and kernels
    N(0, 1/fan_in), norm scales and running variances U(0.5, 1.5), biases and running means
    N(0, 0.1^2), counters left out (so both sides keep their own)."""
    rng = np.random.RandomState(seed)
    out = {}
    for key, shape, dtype in shapes:
        if "int" in dtype:
            continue
        if len(shape) >= 2:
            v = rng.randn(*shape) / np.sqrt(np.prod(shape[1:]))
        elif key.endswith("running_var") or key.endswith("weight"):
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.randn(*shape) * 0.1
        out[key] = v.astype(np.float32)
    return out


def image(size, seed=1):
    return np.random.RandomState(seed).randn(BATCH, 3, size, size).astype(np.float32)


def record():  # pragma: no cover - needs torchvision
    import torch
    import torchvision
    result = {"_about": f"torchvision {torchvision.__version__} outputs of the CASES in "
                        "tv_reference.py with its weights(): eval (float32), train-mode "
                        "output and each parameter's gradient sum / sum of squares of "
                        "y.square().sum() (float64, dropout-free)."}
    for name, (build, size, det) in CASES.items():
        torch.manual_seed(0)
        m = build(torchvision.models, torch.nn)
        sd = m.state_dict()
        w = weights([(k, list(v.shape), str(v.dtype)) for k, v in sd.items()])
        m.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()}, strict=False)
        m.eval()
        with torch.no_grad():
            ev = m(torch.from_numpy(image(size))).numpy()
        t = build(torchvision.models, torch.nn, **det).double()
        t.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()}, strict=False)
        t.train()
        y = t(torch.from_numpy(image(size).astype(np.float64)))
        y.square().sum().backward()
        grads = {k: [float(p.grad.sum()), float(p.grad.square().sum())]
                 for k, p in t.named_parameters()}
        result[name] = {"eval": ev.tolist(), "train": y.detach().numpy().tolist(),
                        "grads": grads}
    with open(OUTPUTS, "w") as f:
        json.dump(result, f, separators=(",", ":"))


if __name__ == "__main__":  # pragma: no cover
    if os.environ.get("TVSHIM"):
        exec(open(os.environ["TVSHIM"]).read())
    record()
