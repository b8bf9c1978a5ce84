"""torchvision.ops' non-maximum suppression, which detection programs run on their
predicted boxes (PyTorch-YOLOv3's non_max_suppression, DETR-style and SSD post-processing):

    nms(boxes, scores, iou_threshold)
        indices (int64) of the boxes kept, by decreasing score: greedily, the best box left
        is kept and every box whose IoU with it is above iou_threshold is dropped
    batched_nms(boxes, scores, idxs, iou_threshold)
        the same within each category of idxs (boxes of two categories never suppress each
        other); the kept indices again by decreasing score

Boxes are (x1, y1, x2, y2). As torchvision's CPU kernel: areas, intersections and IoUs are
computed in the boxes' own dtype and each IoU is compared with the threshold as a double;
equal scores keep their input order (a stable sort); an IoU of 0 / 0 (two empty boxes)
suppresses nothing. torchvision's batched_nms offsets each category's boxes apart and runs
one nms; here each category runs on its own, which keeps the same boxes without the
offset's rounding. No gradient: the result is indices.

The number of boxes kept depends on the values, so inside tracecomp.compile these are a
graph break (torch.compile cannot keep torchvision's nms in a graph either).
"""
import numpy as np

from ... import dtypes
from ...composite_shape import eager_values
from ...devices import beside
from ...tensor import Tensor

__all__ = ["nms", "batched_nms"]


def _check(boxes, scores):
    if boxes.dim() != 2:
        raise RuntimeError(f"boxes should be a 2d tensor, got {boxes.dim()}D")
    if boxes.shape[1] != 4:
        raise RuntimeError(f"boxes should have 4 elements in dimension 1, got "
                           f"{boxes.shape[1]}")
    if scores.dim() != 1:
        raise RuntimeError(f"scores should be a 1d tensor, got {scores.dim()}D")
    if boxes.shape[0] != scores.shape[0]:
        raise RuntimeError(f"boxes and scores should have same number of elements in "
                           f"dimension 0, got {boxes.shape[0]} and {scores.shape[0]}")
    if boxes.dtype != scores.dtype:
        raise RuntimeError(f"boxes should have the same type as scores: got {boxes.dtype} "
                           f"and {scores.dtype}")
    if not boxes.is_floating_point():
        raise RuntimeError(f"nms: boxes and scores must be floating point, got {boxes.dtype}")


def _keep(b, s, iou_threshold):
    """Indices into b (n, 4) kept by greedy suppression, by decreasing score s."""
    order = np.argsort(-s, kind="stable")
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    suppressed = np.zeros(len(b), dtype=bool)
    keep = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for pos, i in enumerate(order):
            if suppressed[i]:
                continue
            keep.append(i)
            rest = order[pos + 1:]
            w = np.maximum(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0)
            h = np.maximum(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0)
            inter = w * h
            iou = inter / (areas[i] + areas[rest] - inter)      # in the boxes' dtype
            suppressed[rest[iou.astype(np.float64) > iou_threshold]] = True
    return np.asarray(keep, dtype=np.int64)


def nms(boxes, scores, iou_threshold):
    _check(boxes, scores)
    b, s = eager_values(boxes, "nms"), eager_values(scores, "nms")
    return Tensor._make(beside(_keep(b, s, float(iou_threshold)), boxes._data))


def batched_nms(boxes, scores, idxs, iou_threshold):
    _check(boxes, scores)
    if idxs.dim() != 1 or idxs.shape[0] != boxes.shape[0]:
        raise RuntimeError(f"batched_nms: idxs must be 1-d with one category per box "
                           f"({boxes.shape[0]}), got shape {tuple(idxs.shape)}")
    b, s = eager_values(boxes, "batched_nms"), eager_values(scores, "batched_nms")
    cats = eager_values(idxs, "batched_nms")
    kept = [np.flatnonzero(cats == c)[_keep(b[cats == c], s[cats == c], float(iou_threshold))]
            for c in np.unique(cats)]
    keep = np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)
    keep = keep[np.argsort(-s[keep], kind="stable")]     # equal scores: in input order
    return Tensor._make(beside(keep.astype(dtypes.I64), boxes._data))
