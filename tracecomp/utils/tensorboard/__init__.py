"""tracecomp.utils.tensorboard: torch.utils.tensorboard's SummaryWriter, writing TensorBoard
event files with the tensorboard package's own protobufs and event-file writer.

    from tracecomp.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/mlp") as writer:
        writer.add_scalar("loss", loss, step)
        writer.add_graph(model, x)      # traced, forward, backward and optimized graphs

tensorboard is an optional dependency (`pip install tensorboard`, or the `tensorboard`
extra of tracecomp): `import tracecomp` never imports it, and importing this package
without it raises an ImportError that says what to install, as torch's does.

    writer.py          SummaryWriter: run folders, event files, the add_* methods
    summaries.py       Summary protobufs of plain values: scalar, histogram, text
    images.py          images, batches tiled into a grid, matplotlib figures (PNG)
    video.py           clips as an animated GIF
    audio.py           sound as a WAV
    pr_curve.py        the pr_curves plugin's tensor
    custom_scalars.py  the custom_scalars plugin's chart layout
    mesh.py            the mesh plugin's point clouds and meshes
    embedding.py       the projector's files (tensors, labels, sprite, config)
    hparams.py         the hparams plugin's three summaries
    graph.py           tracecomp's graphs as a GraphDef for TensorBoard's graph view
"""
try:
    import tensorboard  # noqa: F401  (only to fail here, with the fix in the message)
except ImportError as exc:
    raise ImportError("tracecomp.utils.tensorboard writes TensorBoard event files with the "
                      "tensorboard package, which is not installed: pip install tensorboard "
                      "(or pip install 'tracecomp[tensorboard]')") from exc

from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
