"""What published torch programs needed that tracecomp lacked, found by running them with
their imports changed, eager and compiled (round 48), each reproduced here against torch.

Programs run (every weight drawn from one numpy generator in both libraries, inputs the
same; "agrees" means eager, compile(model) and a compiled whole training step give torch's
losses and parameters after every optimizer step; where float32 runs drift through Adam's
lr * sign on a near-zero gradient, the float64 run (set_default_dtype) is the check):
- karpathy/llm.c train_gpt2.py, the torch reference GPT-2 (2 layers of 16, vocabulary 29,
  block 16; its tied lm_head/wte, NewGELU, the masked manual attention and the flash path's
  scaled_dot_product_attention(is_causal=True), cross_entropy with ignore_index=-1,
  configure_optimizers' decay groups, two micro-steps of gradient accumulation,
  clip_grad_norm_, the warmup/cosine lr written into each param group inside the step,
  generate with top_k): agrees after the fix below; float64 to 1e-15, generate gives
  torch's tokens; with zero_stage=1 (ZeroRedundancyOptimizer over a world of one in both
  libraries, its add_param_group, consolidate_state_dict and state_dict) too. Found: a
  compiled step that sets `param_group['lr']` itself before optimizer.step() ran the
  update with the lr the group held when the call began (the previous step's), silently,
  from the second step on; and the script's `from torch.distributed.optim import
  ZeroRedundancyOptimizer` failed (no tracecomp.distributed.optim), so it did not import.
  Its step inside a compiled step is a graph break (the settings it copies into the local
  optimizer's groups lie deeper than the stores a compiled step replays).
- eriklindernoren/PyTorch-YOLOv3 (Darknet built from yolov3-tiny.cfg with filters cut to
  1/16, 2 classes, 64x64 images; YOLOLayer's grid and anchor_grid, route/shortcut/upsample
  layers, compute_loss with build_targets' anchor matching and CIoU, the burn-in lr written
  into the groups, Adam with weight decay, eval-mode decoding and non_max_suppression):
  agrees after the fix below (float64 to 1e-13). The compiled step breaks its graph at
  build_targets' boolean mask `t[j]`, as torch.compile does. The full yolov3.cfg (23
  shortcuts, filters cut to 1/32) agrees too, and save_darknet_weights writes torch's bytes
  (load_darknet_weights reads them back); utils' get_batch_statistics (a 0-d tensor
  indexing a tuple, `label not in tensor`) and ap_per_class agree. Found:
  torchvision.ops.nms, which its non_max_suppression calls, did not exist (now nms and
  batched_nms).
- facebookresearch/moco-v3 moco/builder.py (MoCo_ResNet over a small ResNet-style encoder
  with num_classes, its projector/predictor MLPs with BatchNorm1d(affine=False), the
  momentum update `param_m.data = ...` under no_grad inside forward, the contrastive loss
  with einsum and concat_all_gather over a real world-of-one process group in both
  libraries, LARS from moco/optimizer.py and AdamW): agrees, float64 to 1e-14 (AdamW 6e-10
  on the BatchNorm-cancelled biases). Found: dist.all_gather of a traced tensor was a
  RuntimeError ("only all_reduce is recorded into a compiled graph"), so neither
  compile(model) nor a compiled step ran; it is now an `all_gather` graph node. Its
  main_lincls.py flow (a checkpoint with a 'module.'-prefixed state_dict and the optimizer
  state saved and loaded with map_location, keys renamed, load_state_dict(strict=False)'s
  missing_keys, all but fc frozen, eval-mode training, the sanity check that nothing else
  moved) agrees, eager and compiled step.
- microsoft/Swin-Transformer models/swin_transformer.py (16x16 images, patch 2, depths
  [2, 2], window 4: window partition/reverse, the shifted windows' torch.roll and attention
  mask, the relative position bias table gathered by its index buffer, trunc_normal_ init,
  AdamW with its no_weight_decay groups, label smoothing; also ape=True with
  use_checkpoint=True, SGD nesterov): agrees, float64 to 3e-13 (float32 drifts at 1e-4 on
  the key bias, whose gradient is zero). swin_transformer_v2.py (cosine attention with the
  clamped logit_scale, the continuous position bias MLP over its log-spaced coordinate
  table; float32 only, as its float32 table makes torch refuse float64) and swin_mlp.py
  agree; models/simmim.py (the mask token blended into the patches, PixelShuffle decoder,
  norm_targets' avg_pool2d with count_include_pad=False, the masked l1 loss) agrees,
  float64 to 6e-14. DropPath and dropout at 0.5: compile(model) and the compiled step give
  tracecomp's eager parameters under one seed (fresh draws each call).
- fxia22/pointnet.pytorch pointnet/model.py (PointNetCls and PointNetDenseCls with
  feature_transform=True: STN3d/STNkd with the identity added through from_numpy and
  Variable, bmm by the transforms, max over points, feature_transform_regularizer, Adam
  with StepLR, nll_loss; dropout at 0): agrees, float64 to 3e-8 (the conv biases before
  BatchNorm, gradient zero, through Adam).
- yanx27/Pointnet_Pointnet2_pytorch (pointnet2_cls_ssg, pointnet2_cls_msg and
  pointnet2_sem_seg_msg with npoint/nsample cut: farthest_point_sample with torch.randint
  made zeros in both, query_ball_point's masked writes and sort, index_points' batch
  indices, sample_and_group(_all), feature propagation with 3-nearest interpolation,
  nll_loss with class weights): agree (semantic segmentation float64 to 3e-11). Compiled,
  the graph breaks at farthest_point_sample's `distance[mask] = dist[mask]`, whose
  right-hand side has a data-dependent shape, as torch.compile breaks there.
Found on the way (ZeroRedundancyOptimizer's local groups lie three objects below the
optimizer a step names): a compiled function's stores into a dict or list held by the
user's objects two attributes down (`cfg.train.log.d["n"] += 1`) were neither replayed
nor refused, so every call kept the trace's value; they are now replayed.
"""
import numpy as np
import pytest
import torch

import tracecomp as tc
import tracecomp.vision  # noqa: F401  (tc.vision.ops, as torchvision.ops)


# --- a compiled step that sets its optimizer's lr itself, as llm.c's training loop does ---
def _scheduled_steps(lib, opt_name, lrs, compiled, kind):
    """Adam(W)/SGD steps on one parameter; each step writes lrs[s] (or the float it is
    given) into every param group before optimizer.step()."""
    w = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64))
    opt = getattr(lib.optim, opt_name)([w], lr=1e-3, **({"momentum": 0.9} if opt_name ==
                                                         "SGD" else {}))

    def step(s):
        opt.zero_grad()
        loss = (w * w * w).sum()
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lrs[s] if kind == "index" else s
        opt.step()
        return loss
    if compiled:
        step = tc.compile(step)
    for s in range(len(lrs)):
        step(s if kind == "index" else lrs[s])
    return w.detach().numpy(), [g["lr"] for g in opt.param_groups]


@pytest.mark.parametrize("opt_name", ["AdamW", "SGD"])
@pytest.mark.parametrize("kind", ["index", "float"])
def test_a_compiled_step_uses_the_lr_it_writes_into_the_group(opt_name, kind):
    lrs = [0.1, 0.2, 0.3, 0.05]
    ref = _scheduled_steps(torch, opt_name, lrs, False, kind)
    ours = _scheduled_steps(tc, opt_name, lrs, True, kind)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-12, atol=1e-14)
    assert ours[1] == ref[1]


# --- torchvision.ops.nms / batched_nms, as PyTorch-YOLOv3's non_max_suppression calls it ----
# torchvision is not installed beside torch here: the reference is the greedy rule written
# with torch ops, IoUs in the boxes' dtype, compared with the threshold as a double.
def _reference_nms(boxes, scores, thr):
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    keep, dropped = [], set()
    for pos, i in enumerate(order):
        if i in dropped:
            continue
        keep.append(i)
        for j in order[pos + 1:]:
            w = (torch.minimum(x2[i], x2[j]) - torch.maximum(x1[i], x1[j])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[j]) - torch.maximum(y1[i], y1[j])).clamp(min=0)
            inter = w * h
            if float(inter / (areas[i] + areas[j] - inter)) > thr:
                dropped.add(j)
    return keep


def _detections(rng, n, dtype):
    """n boxes in clusters (many overlaps), scores with a few exact ties."""
    centres = rng.uniform(0, 40, (4, 2))[rng.integers(0, 4, n)] + rng.normal(0, 2, (n, 2))
    wh = rng.uniform(3, 10, (n, 2))
    boxes = np.concatenate([centres - wh / 2, centres + wh / 2], 1).astype(dtype)
    scores = np.round(rng.uniform(0, 1, n), 1).astype(dtype)   # rounded: ties
    return boxes, scores


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_keeps_torchvisions_boxes(dtype, thr):
    rng = np.random.default_rng(3)
    boxes, scores = _detections(rng, 40, dtype)
    ref = _reference_nms(torch.tensor(boxes), torch.tensor(scores), thr)
    keep = tc.vision.ops.nms(tc.tensor(boxes), tc.tensor(scores), thr)
    assert keep.dtype == tc.int64
    assert keep.tolist() == ref


def test_nms_compares_the_iou_with_the_threshold_as_a_double():
    # float32 IoU 1/3 rounds up to 0.33333334: above the double 1/3, so suppressed (as
    # torchvision's C++ compares); an IoU of exactly 0.5 at 0.5 is not above it: kept
    boxes = tc.tensor([[0.0, 0.0, 2.0, 1.0], [1.0, 0.0, 3.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    scores = tc.tensor([0.9, 0.8, 0.7])
    assert tc.vision.ops.nms(boxes[:2], scores[:2], 1 / 3).tolist() == [0]
    assert tc.vision.ops.nms(boxes[::2], scores[::2], 0.5).tolist() == [0, 1]
    assert tc.vision.ops.nms(boxes[:0], scores[:0], 0.5).tolist() == []


def test_batched_nms_suppresses_within_each_category():
    rng = np.random.default_rng(4)
    boxes, scores = _detections(rng, 30, np.float32)
    cats = rng.integers(0, 3, 30)
    keep = tc.vision.ops.batched_nms(tc.tensor(boxes), tc.tensor(scores), tc.tensor(cats), 0.4)
    ref = []
    for c in range(3):
        idx = np.flatnonzero(cats == c)
        kept = _reference_nms(torch.tensor(boxes[idx]), torch.tensor(scores[idx]), 0.4)
        ref += idx[kept].tolist()
    ref = sorted(ref, key=lambda i: (-scores[i], i))
    assert keep.tolist() == ref


@pytest.mark.parametrize("boxes, scores, match", [
    ((5, 4, 1), (5,), "boxes should be a 2d tensor, got 3D"),
    ((5, 5), (5,), "boxes should have 4 elements in dimension 1, got 5"),
    ((5, 4), (5, 1), "scores should be a 1d tensor, got 2D"),
    ((5, 4), (4,), "same number of elements in dimension 0, got 5 and 4"),
])
def test_nms_refuses_what_torchvision_refuses(boxes, scores, match):
    with pytest.raises(RuntimeError, match=match):
        tc.vision.ops.nms(tc.zeros(*boxes), tc.zeros(*scores), 0.5)
    with pytest.raises(RuntimeError, match="same type as scores"):
        tc.vision.ops.nms(tc.zeros(3, 4), tc.zeros(3, dtype=tc.float64), 0.5)


def test_nms_in_a_compiled_function_is_a_graph_break_with_eagers_result():
    rng = np.random.default_rng(5)
    boxes, scores = _detections(rng, 20, np.float32)

    def detect(b, s):
        return tc.vision.ops.nms(b * 2.0, s.sigmoid(), 0.5)
    want = detect(tc.tensor(boxes), tc.tensor(scores)).tolist()
    with pytest.warns(UserWarning, match="graph break"):
        got = tc.compile(detect)(tc.tensor(boxes), tc.tensor(scores))
    assert got.tolist() == want


# --- dist.all_gather inside a compiled forward: MoCo v3's concat_all_gather -------------------
# In a child process: a world of one in both libraries (torch's gloo through a file store,
# tracecomp's MPI started without mpiexec); the multi-rank check is
# tests/distributed/jobs/collectives.py's check_compiled_all_gather.
_MOCO_CHILD = r'''
import sys
import numpy as np
import torch
import tracecomp as tc

torch.distributed.init_process_group("gloo", init_method="file://" + sys.argv[1],
                                     world_size=1, rank=0)
tc.distributed.init_process_group("mpi")


def moco_steps(lib, compiled):
    rng = np.random.default_rng(0)
    x1, x2 = (lib.tensor(rng.standard_normal((4, 6)).astype(np.float32)) for _ in range(2))
    base, momentum = lib.nn.Linear(6, 5), lib.nn.Linear(6, 5)
    with lib.no_grad():
        for p, q in zip(base.parameters(), momentum.parameters()):
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
            q.copy_(p)
            q.requires_grad = False
    opt = lib.optim.SGD(base.parameters(), lr=0.5, momentum=0.9)

    @lib.no_grad()
    def concat_all_gather(t):
        gathered = [lib.ones_like(t) for _ in range(lib.distributed.get_world_size())]
        lib.distributed.all_gather(gathered, t, async_op=False)
        return lib.cat(gathered, dim=0)

    def contrastive(q, k):
        q = lib.nn.functional.normalize(q, dim=1)
        k = concat_all_gather(lib.nn.functional.normalize(k, dim=1))
        logits = lib.einsum("nc,mc->nm", [q, k]) / 0.2
        n = logits.shape[0]
        labels = lib.arange(n, dtype=lib.long) + n * lib.distributed.get_rank()
        return lib.nn.CrossEntropyLoss()(logits, labels) * 0.4

    def step():
        with lib.no_grad():
            for p, q in zip(base.parameters(), momentum.parameters()):
                q.data = q.data * 0.9 + p.data * 0.1
            k1, k2 = momentum(x1), momentum(x2)
        loss = contrastive(base(x1), k2) + contrastive(base(x2), k1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = tc.compile(step, fullgraph=True)
    losses = [float(step()) for _ in range(3)]
    return losses, [p.detach().numpy() for p in [*base.parameters(), *momentum.parameters()]]


want = moco_steps(torch, False)
for compiled in (False, True):
    got = moco_steps(tc, compiled)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, err_msg=f"losses {compiled}")
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"params {compiled}")
print("MOCO OK")
'''


def test_moco_v3s_concat_all_gather_compiles_into_the_graph(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _MOCO_CHILD, str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "MOCO OK" in proc.stdout, proc.stdout + proc.stderr


# --- torch.distributed.optim.ZeroRedundancyOptimizer, as llm.c's zero_stage=1 builds it ------
# A world of one in a child process, against torch's (gloo); the sharding over 2 ranks is
# tests/distributed/jobs/zero.py's.
_ZERO_CHILD = r'''
import sys
import numpy as np
import torch
import tracecomp as tc
from tracecomp.distributed.optim import ZeroRedundancyOptimizer as TcZero
from torch.distributed.optim import ZeroRedundancyOptimizer as TorchZero

torch.distributed.init_process_group("gloo", init_method="file://" + sys.argv[1],
                                     world_size=1, rank=0)
tc.distributed.init_process_group("mpi")


def zero_steps(lib, Zero, compiled):
    rng = np.random.default_rng(0)
    net = lib.nn.Sequential(lib.nn.Linear(6, 8), lib.nn.Tanh(), lib.nn.Linear(8, 3))
    with lib.no_grad():
        for p in net.parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    x = lib.tensor(rng.standard_normal((5, 6)).astype(np.float32))
    decay = [p for p in net.parameters() if p.dim() >= 2]
    rest = [p for p in net.parameters() if p.dim() < 2]
    opt = Zero(params=decay, weight_decay=0.1, optimizer_class=lib.optim.AdamW, lr=1e-2,
               betas=(0.9, 0.95), fused=False)
    opt.add_param_group({"params": rest, "weight_decay": 0.0})

    def step(lr):
        for group in opt.param_groups:
            group["lr"] = lr
        loss = net(x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    if compiled:    # the step is a graph break: forward and backward compiled
        step = tc.compile(step)
    losses = [float(step(lr)) for lr in (1e-2, 2e-2, 5e-3)]
    opt.consolidate_state_dict(to=0)
    saved = opt.state_dict()
    # a fresh optimizer takes the saved state and goes on as the first would
    again = Zero(params=decay, weight_decay=0.1, optimizer_class=lib.optim.AdamW, lr=1.0)
    again.add_param_group({"params": rest, "weight_decay": 0.0})
    again.load_state_dict(saved)
    twin = net(x).pow(2).mean()
    twin.backward()
    again.step()
    return losses, [p.detach().numpy() for p in net.parameters()], saved


def flat(saved):
    groups = [{k: v for k, v in g.items()} for g in saved["param_groups"]]
    state = {i: {k: np.asarray(v) for k, v in s.items()} for i, s in saved["state"].items()}
    return groups, state


want = zero_steps(torch, TorchZero, False)
for compiled in (False, True):
    got = zero_steps(tc, TcZero, compiled)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, err_msg=f"losses {compiled}")
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"params {compiled}")
    (g1, s1), (g2, s2) = flat(got[2]), flat(want[2])
    assert g1 == g2, (g1, g2)
    assert sorted(s1) == sorted(s2), (sorted(s1), sorted(s2))
    for i in s1:
        assert sorted(s1[i]) == sorted(s2[i])
        for k in s1[i]:
            np.testing.assert_allclose(s1[i][k], s2[i][k], rtol=1e-5, atol=1e-7, err_msg=k)
print("ZERO OK")
'''


def test_zero_redundancy_optimizer_steps_and_saves_as_torchs(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", _ZERO_CHILD, str(tmp_path / "store")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ZERO OK" in proc.stdout, proc.stdout + proc.stderr


# --- a compiled function's stores into a dict three objects deep -------------------------------
# Found while wiring ZeroRedundancyOptimizer (its local optimizer's groups lie three levels
# below the name the step uses): a store into a dict held by a plain object two attributes
# below a global (`cfg.train.log.d["n"] += 1`) was neither replayed nor refused: the trace's
# value stayed for every call.
class _Node:
    pass


def _deep_store_calls(lib, compiled):
    cfg = _Node()
    cfg.train = _Node()
    cfg.train.log = _Node()
    cfg.train.log.d = {"n": 0}
    cfg.train.log.lrs = []
    x = lib.ones(3)

    def step(y, lr):
        cfg.train.log.d["n"] += 1
        cfg.train.log.d["lr"] = lr
        cfg.train.log.lrs.append(lr)
        return x * y * lr
    if compiled:
        step = tc.compile(step)
    outs = [step(lib.ones(3) * i, 0.5 / (i + 1)).tolist() for i in range(4)]
    return outs, cfg.train.log.d, cfg.train.log.lrs


def test_a_compiled_function_replays_its_stores_into_a_dict_three_objects_deep():
    want = _deep_store_calls(torch, False)
    assert _deep_store_calls(tc, True) == want
