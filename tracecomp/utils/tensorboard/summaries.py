"""The Summary protobufs of SummaryWriter's plain values: scalar, histogram (from values, or
raw bucket counts) and text, in the forms torch.utils.tensorboard writes them (so
TensorBoard and its EventAccumulator read ours as they read torch's), built from
tensorboard's own protobuf classes.

Every value may be a tracecomp Tensor (on any device, with or without grad), a numpy array
or scalar, a Python number, or (histograms) a list of numbers: `to_numpy` takes them all.
"""
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


def histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts):
    """A HistogramProto of counts made elsewhere: bucket i holds bucket_counts[i] values in
    (bucket_limits[i-1], bucket_limits[i]]. The names shadow builtins because they are
    torch's keyword arguments."""
    limits = to_numpy(bucket_limits).astype(np.float64).reshape(-1)
    counts = to_numpy(bucket_counts).astype(np.float64).reshape(-1)
    if len(limits) != len(counts):
        raise ValueError(f"add_histogram_raw({tag!r}): {len(limits)} bucket_limits but "
                         f"{len(counts)} bucket_counts; give each bucket its upper limit "
                         f"and its count")
    stats = [float(to_numpy(v).reshape(())) for v in (min, max, sum, sum_squares)]
    return Summary(value=[Summary.Value(tag=tag, histo=HistogramProto(
        min=stats[0], max=stats[1], num=int(to_numpy(num).reshape(())), sum=stats[2],
        sum_squares=stats[3], bucket_limit=limits.tolist(), bucket=counts.tolist()))])


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
