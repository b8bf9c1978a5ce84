"""The mesh plugin's summary (add_mesh): a point cloud or triangle mesh, shown in 3D with
three.js. One float32 tensor per part present (vertices, faces, colors), each B x N x 3,
tagged `<tag>_VERTEX`, `<tag>_FACE`, `<tag>_COLOR`, with the plugin's metadata built by
tensorboard's own helpers (which need no TensorFlow), as torch writes them.
"""
import json

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.mesh import metadata
from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData

from .summaries import to_numpy


def mesh(tag, vertices, colors=None, faces=None, config_dict=None):
    """A Summary of the parts given: vertices (x, y, z), faces (three vertex indices) and
    colors (r, g, b: 0..255), each batch x count x 3. config_dict: three.js settings
    (camera, lights, material), stored as JSON."""
    parts = [(name, to_numpy(value), kind) for name, value, kind in (
        ("vertices", vertices, MeshPluginData.VERTEX), ("faces", faces, MeshPluginData.FACE),
        ("colors", colors, MeshPluginData.COLOR)) if value is not None]
    for name, array, _ in parts:
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"add_mesh({tag!r}): {name} must be (batch, count, 3), got "
                             f"shape {list(array.shape)}; add a batch dim of 1 for one mesh")
    components = metadata.get_components_bitmask([kind for _, _, kind in parts])
    config = json.dumps(config_dict, sort_keys=True) if config_dict is not None else "{}"
    values = []
    for _, array, kind in parts:
        tensor = TensorProto(dtype="DT_FLOAT", float_val=array.reshape(-1).tolist(),
                             tensor_shape=TensorShapeProto(
                                 dim=[TensorShapeProto.Dim(size=n) for n in array.shape]))
        values.append(Summary.Value(
            tag=metadata.get_instance_name(tag, kind), tensor=tensor,
            metadata=metadata.create_summary_metadata(tag, None, kind, components,
                                                      list(array.shape), json_config=config)))
    return Summary(value=values)
