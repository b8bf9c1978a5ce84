"""The three summaries of TensorBoard's hparams plugin that SummaryWriter.add_hparams writes
into a run of its own: the experiment (which hyperparameters and metrics there are), the
session's start (this run's hyperparameter values) and its end (status: success). The
metrics themselves are ordinary scalars in the same run, which the writer adds.

Built from the plugin's protobufs directly: tensorboard's own helpers for them
(tensorboard.plugins.hparams.summary) import TensorFlow.
"""
import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from ...tensor import Tensor
from .summaries import to_numpy


def hparams(hparam_dict, metric_dict, hparam_domain_discrete=None):
    """(experiment, session start, session end) Summaries. hparam_dict's values are bools,
    strings, numbers or one-element tensors (None: left out); hparam_domain_discrete maps a
    hyperparameter to the list of values it can take, all of its type."""
    if type(hparam_dict) is not dict or type(metric_dict) is not dict:
        raise TypeError(f"add_hparams: hparam_dict and metric_dict must be dicts, got "
                        f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError(f"add_hparams: hparam_domain_discrete must be a dict of lists, got "
                        f"{type(domains).__name__}")
    for name, values in domains.items():
        if name not in hparam_dict or not isinstance(values, list) \
                or not all(isinstance(v, type(hparam_dict[name])) for v in values):
            raise TypeError(f"add_hparams: hparam_domain_discrete[{name!r}] must be a list of "
                            f"values of the type of hparam_dict[{name!r}]")

    start, infos = plugin_data_pb2.SessionStartInfo(), []
    for name, value in hparam_dict.items():
        if value is None:
            continue
        field, data_type, value = _typed(name, value)
        setattr(start.hparams[name], field, value)
        domain = None
        if name in domains:
            domain = struct_pb2.ListValue(
                values=[struct_pb2.Value(**{field: _typed(name, v)[2]}) for v in domains[name]])
        infos.append(api_pb2.HParamInfo(name=name, type=data_type, domain_discrete=domain))

    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_dict]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS)
    return (_summary(metadata.EXPERIMENT_TAG, experiment=experiment),
            _summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
            _summary(metadata.SESSION_END_INFO_TAG, session_end_info=end))


def _typed(name, value):
    """(struct_pb2.Value field, plugin data type, plain Python value) of one value.
    Booleans are checked first: torch's check for numbers comes first and turns True into
    1.0, where the plugin has a boolean type to show true/false."""
    if isinstance(value, (bool, np.bool_)):
        return "bool_value", api_pb2.DATA_TYPE_BOOL, bool(value)
    if isinstance(value, str):
        return "string_value", api_pb2.DATA_TYPE_STRING, value
    if isinstance(value, (int, float, np.number, np.ndarray, Tensor)):
        array = to_numpy(value)
        if array.size == 1:
            return "number_value", api_pb2.DATA_TYPE_FLOAT64, float(array.reshape(()))
    raise ValueError(f"add_hparams: hyperparameter {name!r} is {value!r}; a value must be a "
                     f"bool, str, int, float, a one-element tensor or None")


def _summary(tag, **content):
    data = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content)
    plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME,
                                        content=data.SerializeToString())
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])
