"""torchvision.ops' box utilities over tracecomp tensors, differentiable like torchvision's
(DETR's generalized-IoU loss backpropagates through them):

    box_area(boxes)                  (N,) areas of (N, 4) boxes in (x1, y1, x2, y2) form
    box_iou(boxes1, boxes2)          (N, M) intersection over union
    generalized_box_iou(b1, b2)      (N, M) IoU minus the part of the enclosing box the
                                     union leaves empty; in [-1, 1]
    box_convert(boxes, in_fmt, out_fmt)
                                     between 'xyxy', 'xywh' (corner, size) and 'cxcywh'
                                     (centre, size)

Like torchvision's, they do not check that x2 >= x1 (a degenerate box gives a negative area),
and IoU of two empty boxes is 0 / 0 = nan.
"""
from ... import stack

__all__ = ["box_area", "box_iou", "generalized_box_iou", "box_convert"]


def _boxes(name, boxes):
    if boxes.dim() < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name}: boxes must have shape (..., 4), got {tuple(boxes.shape)}")
    return boxes


def box_area(boxes):
    _boxes("box_area", boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(name, boxes1, boxes2):
    _boxes(name, boxes1), _boxes(name, boxes2)
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = boxes1[:, None, :2].maximum(boxes2[:, :2])
    rb = boxes1[:, None, 2:].minimum(boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter, area1[:, None] + area2 - inter


def box_iou(boxes1, boxes2):
    inter, union = _inter_union("box_iou", boxes1, boxes2)
    return inter / union


def generalized_box_iou(boxes1, boxes2):
    inter, union = _inter_union("generalized_box_iou", boxes1, boxes2)
    lt = boxes1[:, None, :2].minimum(boxes2[:, :2])
    rb = boxes1[:, None, 2:].maximum(boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    hull = wh[..., 0] * wh[..., 1]
    return inter / union - (hull - union) / hull


# each format to and from xyxy, from the box's four columns
_TO_XYXY = {
    "xyxy": lambda a, b, c, d: (a, b, c, d),
    "xywh": lambda x, y, w, h: (x, y, x + w, y + h),
    "cxcywh": lambda cx, cy, w, h: (cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h),
}
_FROM_XYXY = {
    "xyxy": lambda x1, y1, x2, y2: (x1, y1, x2, y2),
    "xywh": lambda x1, y1, x2, y2: (x1, y1, x2 - x1, y2 - y1),
    "cxcywh": lambda x1, y1, x2, y2: ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1),
}


def box_convert(boxes, in_fmt, out_fmt):
    for fmt in (in_fmt, out_fmt):
        if fmt not in _TO_XYXY:
            raise ValueError(f"box_convert: unsupported box format {fmt!r}; valid formats are "
                             f"{', '.join(repr(k) for k in _TO_XYXY)}")
    _boxes("box_convert", boxes)
    if in_fmt == out_fmt:
        return boxes.clone()
    return stack(_FROM_XYXY[out_fmt](*_TO_XYXY[in_fmt](*boxes.unbind(-1))), dim=-1)
