"""The Summary protobufs SummaryWriter writes: scalar, histogram, text and image, in the
forms torch.utils.tensorboard writes them (so TensorBoard and its EventAccumulator read ours
as they read torch's), built from tensorboard's own protobuf classes.

Every value may be a tracecomp Tensor (on any device, with or without grad), a numpy array
or scalar, a Python number, or (histograms) a list of numbers: `to_numpy` takes them all.
"""
import io

import numpy as np
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from ...tensor import Tensor


def to_numpy(value):
    """value as a numpy array; a Tensor is detached and copied to the host first."""
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# --- scalar --------------------------------------------------------------------------------
def scalar(tag, value, new_style=False, double_precision=False):
    """One number. Old style is the `simple_value` field (a float32), which every TensorBoard
    reads; new style is a tensor tagged for the scalars plugin, float64 when asked."""
    array = to_numpy(value)
    if array.size != 1:
        raise ValueError(f"add_scalar({tag!r}): needs one value, got an array of shape "
                         f"{list(array.shape)}; log one number (e.g. its mean), or use "
                         f"add_histogram for many")
    number = float(array.reshape(()))
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=number)])
    if double_precision:
        tensor = TensorProto(dtype="DT_DOUBLE", double_val=[number])
    else:
        tensor = TensorProto(dtype="DT_FLOAT", float_val=[number])
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])


# --- histogram -----------------------------------------------------------------------------
def _tensorflow_bins():
    """TensorFlow's default bucket edges: +-1e-12 growing by 1.1x up to 1e20, and 0. Built
    by repeated multiplication, as torch builds them, so the edges are the same floats."""
    edge, positive = 1e-12, []
    while edge < 1e20:
        positive.append(edge)
        edge *= 1.1
    return np.array([-e for e in reversed(positive)] + [0.0] + positive)


TENSORFLOW_BINS = _tensorflow_bins()


def histogram(tag, values, bins="tensorflow", max_bins=None):
    """A HistogramProto of values. bins: "tensorflow" (TENSORFLOW_BINS) or anything
    numpy.histogram takes (a count, edges, "auto", "fd", ...). max_bins: more buckets than
    that are merged in groups of len(buckets) // max_bins, as torch merges them (so a few
    more than max_bins may remain)."""
    values = to_numpy(values).astype(np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError(f"add_histogram({tag!r}): no values to count")
    edges = TENSORFLOW_BINS if isinstance(bins, str) and bins == "tensorflow" else bins
    counts, limits = np.histogram(values, bins=edges)
    if max_bins is not None and len(counts) > max_bins:
        counts, limits = _merge_buckets(counts, limits, len(counts) // max_bins)
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        raise ValueError(f"add_histogram({tag!r}): no value falls inside the bins (are they "
                         f"all NaN or infinite, or outside explicit bin edges?)")
    first, last = filled[0], filled[-1]
    # TensorBoard keeps only each bucket's right edge, reading bucket i as
    # (limit[i-1], limit[i]]: an empty bucket in front carries the first filled one's left
    # edge. Empty buckets beyond the filled range are dropped (most of TENSORFLOW_BINS)
    counts = np.concatenate([[0], counts[first:last + 1]])
    limits = limits[first:last + 2]
    return Summary(value=[Summary.Value(tag=tag, histo=HistogramProto(
        min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
        sum_squares=values.dot(values), bucket_limit=limits.tolist(),
        bucket=counts.tolist()))])


def _merge_buckets(counts, limits, group):
    """Every `group` neighbouring buckets as one (the last group padded with empty ones)."""
    counts = np.pad(counts, (0, -len(counts) % group))
    merged = np.append(limits[:-1:group], limits[-1])
    return counts.reshape(-1, group).sum(axis=1), merged


# --- text ----------------------------------------------------------------------------------
def text(tag, string):
    """A string for the text plugin (it renders Markdown), under `<tag>/text_summary` as
    torch writes it."""
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name="text", content=TextPluginData(version=0).SerializeToString()))
    tensor = TensorProto(dtype="DT_STRING", string_val=[str(string).encode("utf-8")],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    return Summary(value=[Summary.Value(tag=f"{tag}/text_summary", metadata=metadata,
                                        tensor=tensor)])


# --- image ---------------------------------------------------------------------------------
def image(tag, img, dataformats="CHW"):
    """A PNG of one image. Values of a uint8 image are pixel values; any other dtype's are
    in [0, 1] and are scaled by 255, clipped and truncated, as torch does."""
    hwc = to_hwc(to_numpy(img), dataformats, tag)
    scale = 1 if hwc.dtype == np.uint8 else 255
    hwc = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    height, width, channels = hwc.shape
    return Summary(value=[Summary.Value(tag=tag, image=Summary.Image(
        height=height, width=width, colorspace=channels, encoded_image_string=png(hwc)))])


def to_hwc(array, dataformats, tag):
    """array (laid out as dataformats says: a permutation of "CHW" or "HW") as height x
    width x channels, with grey images (one channel, or no C) repeated into RGB as torch
    does; 3 (RGB) and 4 (RGBA) channels stay as they are."""
    layout = dataformats.upper()
    if sorted(layout) not in (sorted("CHW"), sorted("HW")):
        raise ValueError(f"add_image({tag!r}): dataformats must order the letters C, H and W "
                         f"(e.g. 'CHW', 'HWC') or H and W ('HW'), got {dataformats!r}")
    if array.ndim != len(layout):
        raise ValueError(f"add_image({tag!r}): an image of shape {list(array.shape)} has "
                         f"{array.ndim} dims but dataformats={dataformats!r} has "
                         f"{len(layout)}")
    if layout in ("HW", "WH"):
        array = array.transpose([layout.index(c) for c in "HW"])[:, :, None]
    else:
        array = array.transpose([layout.index(c) for c in "HWC"])
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] not in (3, 4):
        raise ValueError(f"add_image({tag!r}): an image needs 1, 3 (RGB) or 4 (RGBA) "
                         f"channels, got {array.shape[2]} (shape {list(array.shape)} as HWC)")
    return array


def png(hwc):
    """The PNG bytes of a uint8 height x width x 3|4 array, encoded by Pillow as torch's
    add_image encodes them."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("add_image encodes images as PNG with Pillow, which is not "
                          "installed: pip install pillow") from exc
    out = io.BytesIO()
    Image.fromarray(hwc).save(out, format="PNG")
    return out.getvalue()
