"""tracecomp.vision.models.feature_extraction (torchvision's, built on tracecomp.fx): node
names as torchvision documents them for resnet18, extracted values equal to forward hooks'
on the original model, pruning, train/eval graphs, leaf modules and functions."""
import pickle

import numpy as np
import pytest

import tracecomp as tc
from tracecomp.vision import models
from tracecomp.vision.models.feature_extraction import (
    create_feature_extractor,
    get_graph_node_names,
)


def _resnet18_names():
    """torchvision's documented node names of resnet18."""
    names = ["x", "conv1", "bn1", "relu", "maxpool"]
    for layer in range(1, 5):
        for block in range(2):
            p = f"layer{layer}.{block}"
            names += [f"{p}.conv1", f"{p}.bn1", f"{p}.relu", f"{p}.conv2", f"{p}.bn2"]
            if layer > 1 and block == 0:
                names += [f"{p}.downsample.0", f"{p}.downsample.1"]
            names += [f"{p}.add", f"{p}.relu_1"]
    return names + ["avgpool", "flatten", "fc"]


def test_node_names_of_resnet18_are_torchvisions():
    train, evals = get_graph_node_names(models.resnet18())
    assert train == evals == _resnet18_names()


def test_extracted_features_equal_hooked_outputs_and_unused_parts_go():
    tc.manual_seed(0)
    model = models.resnet18().eval()
    seen = {}
    for name in ("layer1", "layer3"):
        model.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, o))
    extractor = create_feature_extractor(model, {"layer1": "feat1", "layer3": "feat2"})
    assert not extractor.training
    x = tc.randn(1, 3, 64, 64)
    with tc.no_grad():
        out = extractor(x)
        model(x)
    assert list(out) == ["feat1", "feat2"]
    assert out["feat1"].shape == (1, 64, 16, 16) and out["feat2"].shape == (1, 256, 4, 4)
    assert tc.equal(out["feat1"], seen["layer1"]) and tc.equal(out["feat2"], seen["layer3"])
    assert [n for n, _ in extractor.named_children()] == \
        ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3"]
    out2 = create_feature_extractor(model, ["layer2.1.add", "fc"])(x)
    assert list(out2) == ["layer2.1.add", "fc"] and out2["fc"].shape == (1, 1000)
    # pickled, an extractor comes back as a GraphModule of its current graph (as torch's)
    back = pickle.loads(pickle.dumps(extractor))
    assert tc.equal(back(x)["feat2"], out["feat2"])
    with pytest.raises(ValueError, match="node: 'layer9' is not present in model"):
        create_feature_extractor(model, ["layer9"])


def leaf_function(x):
    return int(x)               # would fail on a Proxy: kept as one node


class LeafModule(tc.nn.Module):
    def forward(self, x):
        int(x.shape[0])         # would fail on a Proxy: kept as one node
        return tc.nn.functional.relu(x + 4)


def test_train_and_eval_graphs_and_tracer_kwargs():
    class M(tc.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = tc.nn.Conv2d(3, 1, 3)
            self.leaf_module = LeafModule()

        def forward(self, x):
            leaf_function(x.shape[0])
            x = self.conv(x)
            if self.training:
                x = x * 2
            return self.leaf_module(x)

    model = M()
    with pytest.warns(UserWarning, match="different to those obtained in eval mode"):
        extractor = create_feature_extractor(
            model, return_nodes=["leaf_module"],
            tracer_kwargs={"leaf_modules": [LeafModule], "autowrap_functions": [leaf_function]})
    x = tc.randn(2, 3, 5, 5)
    assert extractor.training
    assert tc.allclose(extractor(x)["leaf_module"], model.train()(x))
    extractor.eval()
    assert tc.allclose(extractor(x)["leaf_module"], model.eval()(x))


def test_a_vision_transformer_traces_and_keeps_its_size_checks():
    """torchvision's ViT checks its input through torch._assert, which symbolic tracing
    records (a Python `if` on a traced size could not be traced): height, width and each
    encoder's token shape, 5 checks. The traced module gives
    the model's outputs and raises its AssertionError for a wrong image size."""
    from tracecomp.vision.models.vision_transformer import VisionTransformer
    tc.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                              hidden_dim=16, mlp_dim=32, num_classes=5).eval()
    traced = tc.fx.symbolic_trace(model)
    assert sum(n.target is tc._assert for n in traced.graph.nodes) == 5
    x = tc.randn(2, 3, 32, 32)
    np.testing.assert_array_equal(traced(x).detach().numpy(), model(x).detach().numpy())
    # the message was formatted while tracing, with the traced height: torch.fx's is too
    with pytest.raises(AssertionError, match=r"Wrong image height! Expected 32 but got Proxy"):
        traced(tc.randn(1, 3, 16, 32))
