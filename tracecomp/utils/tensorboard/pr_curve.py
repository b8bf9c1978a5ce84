"""The pr_curves plugin's summary (add_pr_curve, add_pr_curve_raw): a float32 tensor of six
rows, true/false positive, true/false negative counts, precision and recall, with one
column per threshold, threshold i being i / (num_thresholds - 1). add_pr_curve counts them
as TensorBoard's own pr_curve summary and torch's add_pr_curve count them.
"""
import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData

from .summaries import to_numpy

MAX_THRESHOLDS = 127        # torch caps num_thresholds here, so we do too
_MINIMUM_COUNT = 1e-7       # TensorBoard's: precision and recall of no counts are 0, not NaN


def pr_curve(tag, labels, predictions, num_thresholds=127, weights=None):
    """The curve of predictions (probabilities in [0, 1]) against labels (true/false, or
    1/0), of the same size; weights (optional, broadcast to labels) weigh each example."""
    labels, predictions = to_numpy(labels), to_numpy(predictions)
    if labels.size != predictions.size:
        raise ValueError(f"add_pr_curve({tag!r}): one label per prediction, got labels of "
                         f"shape {list(labels.shape)} and predictions of shape "
                         f"{list(predictions.shape)}")
    predictions = predictions.reshape(-1)
    if predictions.size and not ((predictions >= 0) & (predictions <= 1)).all():
        raise ValueError(f"add_pr_curve({tag!r}): predictions are probabilities in [0, 1], "
                         f"got values in [{predictions.min()}, {predictions.max()}]; apply "
                         f"sigmoid or softmax first")
    num_thresholds = _thresholds(tag, num_thresholds, "add_pr_curve")
    labels = labels.reshape(-1).astype(np.float64)
    weights = np.broadcast_to(1.0 if weights is None else to_numpy(weights).reshape(-1),
                              labels.shape)
    # each example lands in the bucket of the highest threshold at or below its prediction,
    # computed in the predictions' dtype as TensorBoard does
    buckets = np.floor(predictions * (num_thresholds - 1)).astype(np.int32)
    tp_buckets = np.bincount(buckets, labels * weights, minlength=num_thresholds)
    fp_buckets = np.bincount(buckets, (1.0 - labels) * weights, minlength=num_thresholds)
    # at threshold i: the examples predicted at or above it, i.e. reversed cumulative sums
    tp = np.cumsum(tp_buckets[::-1])[::-1]
    fp = np.cumsum(fp_buckets[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(_MINIMUM_COUNT, tp + fp)
    recall = tp / np.maximum(_MINIMUM_COUNT, tp + fn)
    return _summary(tag, np.stack([tp, fp, tn, fn, precision, recall]), num_thresholds)


def pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, num_thresholds=127):
    """The curve of counts made elsewhere: six sequences of one value per threshold."""
    rows = [to_numpy(row).reshape(-1) for row in (tp, fp, tn, fn, precision, recall)]
    if len({len(row) for row in rows}) != 1:
        raise ValueError(f"add_pr_curve_raw({tag!r}): the six sequences need one value per "
                         f"threshold each, got lengths {[len(row) for row in rows]} (tp, fp, "
                         f"tn, fn, precision, recall)")
    num_thresholds = _thresholds(tag, num_thresholds, "add_pr_curve_raw")
    return _summary(tag, np.stack(rows), num_thresholds)


def _thresholds(tag, num_thresholds, method):
    if int(num_thresholds) < 2:
        raise ValueError(f"{method}({tag!r}): num_thresholds must be at least 2 (the "
                         f"thresholds 0 and 1), got {num_thresholds}")
    return min(int(num_thresholds), MAX_THRESHOLDS)


def _summary(tag, data, num_thresholds):
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name="pr_curves", content=content))
    tensor = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(),
                         tensor_shape=TensorShapeProto(
                             dim=[TensorShapeProto.Dim(size=n) for n in data.shape]))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])
