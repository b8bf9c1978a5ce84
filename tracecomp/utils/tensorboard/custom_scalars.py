"""The custom_scalars plugin's layout (add_custom_scalars and its two shorthands): charts
that gather scalar tags, written once into a run as a serialized Layout under the tag
`custom_scalars__config__`, as torch writes it.

    {"Losses": {"train vs val": ["Multiline", ["loss/train", "loss/val"]],
                "band":         ["Margin", ["loss/mean", "loss/low", "loss/high"]]}}

A Multiline chart plots every tag (each is a regular expression) as a line; a Margin chart
plots its first tag as a line between the other two as lower and upper bounds.
"""
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2

CONFIG_TAG = "custom_scalars__config__"


def custom_scalars(layout):
    """A Summary of layout: {category: {chart title: [kind, tags]}}, kind "Multiline" or
    "Margin" (any case), a Margin chart's tags being [value, lower, upper]."""
    if not isinstance(layout, dict):
        raise TypeError(f"add_custom_scalars: layout must be a dict {{category: {{chart: "
                        f"[kind, tags]}}}}, got {type(layout).__name__}")
    categories = [layout_pb2.Category(title=category, chart=[
        _chart(title, spec) for title, spec in charts.items()])
        for category, charts in layout.items()]
    tensor = TensorProto(dtype="DT_STRING", tensor_shape=TensorShapeProto(),
                         string_val=[layout_pb2.Layout(category=categories)
                                     .SerializeToString()])
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name="custom_scalars"))
    return Summary(value=[Summary.Value(tag=CONFIG_TAG, tensor=tensor, metadata=metadata)])


def _chart(title, spec):
    kind, tags = str(spec[0]), list(spec[1])
    if kind.lower() == "multiline":
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(
            tag=tags))
    if kind.lower() != "margin":
        raise ValueError(f"add_custom_scalars: chart {title!r} is a {kind!r} chart; the "
                         f"kinds are 'Multiline' and 'Margin'")
    if len(tags) != 3:
        raise ValueError(f"add_custom_scalars: the Margin chart {title!r} needs 3 tags "
                         f"(value, lower, upper), got {len(tags)}: {tags}")
    series = layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])
    return layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series]))
