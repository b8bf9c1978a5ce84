"""replace_pattern (the subgraph rewriter) and conv-bn fusion (the FX tutorial's steps and
fx.experimental.optimization.fuse) against torch.fx."""
import copy

import torch
import torch.fx.experimental.optimization as torch_opt
from twins import node_list, torch_code, twin

import tracecomp as tc
import tracecomp.fx as fx
import tracecomp.fx.experimental.optimization as opt

from helpers import assert_close, to_tc


def _docs_case(lib):
    """torch.fx.replace_pattern's documented example."""
    class M(lib.nn.Module):
        def forward(self, x, w1, w2):
            m1 = lib.cat([w1, w2]).sum()
            m2 = lib.cat([w1, w2]).sum()
            return x + lib.max(m1) + lib.max(m2)

    def pattern(w1, w2):
        return lib.cat([w1, w2]).sum()

    def replacement(w1, w2):
        return lib.stack([w1, w2])

    return M(), pattern, replacement


def test_replace_pattern_docs_example():
    m, pattern, replacement = _docs_case(tc)
    ref_m, ref_pattern, ref_replacement = _docs_case(torch)
    gm, ref_gm = fx.symbolic_trace(m), torch.fx.symbolic_trace(ref_m)
    matches = fx.replace_pattern(gm, pattern, replacement)
    ref_matches = torch.fx.replace_pattern(ref_gm, ref_pattern, ref_replacement)
    assert len(matches) == len(ref_matches) == 2
    assert sorted(m.anchor.name for m in matches) == sorted(m.anchor.name for m in ref_matches)
    assert node_list(gm) == node_list(ref_gm)
    assert torch_code(gm.code) == ref_gm.code
    gm.graph.lint()
    x, w1, w2 = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    assert_close(gm(to_tc(x), to_tc(w1), to_tc(w2)), ref_gm(x, w1, w2))


def test_replace_pattern_skips_matches_whose_insides_escape():
    def make(lib):
        def f(x, y):
            a = lib.add(x, y)
            b = lib.relu(a)
            c = lib.add(y, x)
            return lib.relu(c), b + a    # a is read outside its add -> relu match
        return f

    def pattern(lib):
        return lambda x, y: lib.relu(lib.add(x, y))

    def replacement(lib):
        return lambda x, y: lib.sigmoid(lib.sub(x, y))

    gm, ref_gm = fx.symbolic_trace(make(tc)), torch.fx.symbolic_trace(make(torch))
    matches = fx.replace_pattern(gm, pattern(tc), replacement(tc))
    ref_matches = torch.fx.replace_pattern(ref_gm, pattern(torch), replacement(torch))
    assert len(matches) == len(ref_matches) == 1
    assert node_list(gm) == node_list(ref_gm)
    x, y = torch.randn(4), torch.randn(4)
    for a, b in zip(gm(to_tc(x), to_tc(y)), ref_gm(x, y)):
        assert_close(a, b)


def _tutorial_fuse(model, lib, fusion):
    """The FX conv-bn fusion tutorial's fuse(), written against `lib`."""
    model = copy.deepcopy(model)
    fx_model = fusion.symbolic_trace(model)
    modules = dict(fx_model.named_modules())
    for node in fx_model.graph.nodes:
        if node.op != "call_module":
            continue
        if type(modules[node.target]) is lib.nn.BatchNorm2d and \
                type(modules[node.args[0].target]) is lib.nn.Conv2d:
            if len(node.args[0].users) > 1:
                continue
            conv, bn = modules[node.args[0].target], modules[node.target]
            fused = lib.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
            parent, name = node.args[0].target.rsplit(".", 1) if "." in \
                node.args[0].target else ("", node.args[0].target)
            setattr(modules[parent], name, fused)
            node.replace_all_uses_with(node.args[0])
            fx_model.graph.erase_node(node)
    fx_model.graph.lint()
    fx_model.recompile()
    return fx_model


def _trained_stats(ours, ref):
    """Give the batch norms non-trivial running stats (same in both), then eval."""
    x = torch.randn(4, 3, 6, 6)
    ref.train()(x)
    ours.load_state_dict({k: tc.from_numpy(v.detach().numpy().copy())
                          for k, v in ref.state_dict().items()})
    return ours.eval(), ref.eval()


def test_conv_bn_fusion_tutorial_matches_torch():
    ours, ref = _trained_stats(*twin("CNN"))
    fused, ref_fused = _tutorial_fuse(ours, tc, fx), _tutorial_fuse(ref, torch, torch.fx)
    assert node_list(fused) == node_list(ref_fused)
    assert not any("bn" in n.name or n.name == "stem_1" for n in fused.graph.nodes)
    x = torch.randn(2, 3, 6, 6)
    want = ref(x)[0]
    assert_close(ref_fused(x)[0], want, rtol=1e-4, atol=1e-5)
    assert_close(fused(to_tc(x))[0], ref_fused(x)[0], rtol=1e-4, atol=1e-5)
    assert_close(fused.state_dict()["stem.0.weight"], ref_fused.state_dict()["stem.0.weight"],
                 rtol=1e-5, atol=1e-6)


def test_experimental_optimization_fuse_matches_torch():
    ours, ref = _trained_stats(*twin("CNN"))
    fused, ref_fused = opt.fuse(ours), torch_opt.fuse(ref)
    assert node_list(fused) == node_list(ref_fused)
    assert list(fused.state_dict()) == list(ref_fused.state_dict())
    x = torch.randn(2, 3, 6, 6)
    assert_close(fused(to_tc(x))[0], ref_fused(x)[0], rtol=1e-4, atol=1e-5)
    # the input model is untouched (inplace=False)
    assert any(isinstance(m, tc.nn.BatchNorm2d) for m in ours.modules())
