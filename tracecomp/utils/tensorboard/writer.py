"""SummaryWriter: torch.utils.tensorboard.SummaryWriter's API, writing event files that
TensorBoard reads, through tensorboard's own EventFileWriter (which queues events and writes
them from a thread: every max_queue events, every flush_secs seconds, and on flush/close).

A writer owns a run folder (log_dir) with one event file; add_scalars adds a sub-run folder
per line of its plot (`<log_dir>/<main_tag>_<tag>`), add_hparams a sub-run per call, as
torch's do, so TensorBoard lists them as runs. After close() the next add_* starts a new
event file in the same folders. add_embedding writes the projector's files into log_dir
rather than events (embedding.py).
"""
import os
import socket
import time
from datetime import datetime

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from . import embedding, graph, images, summaries
from .audio import audio
from .custom_scalars import custom_scalars
from .hparams import hparams
from .mesh import mesh
from .pr_curve import pr_curve, pr_curve_raw
from .video import video


def default_log_dir(comment=""):
    """runs/<Mon DD_HH-MM-SS>_<hostname><comment>: torch's default, a new folder per run."""
    stamp = datetime.now().strftime("%b%d_%H-%M-%S")
    return os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")


class SummaryWriter:
    """Writes scalars, histograms, text, images, figures, videos, audio, PR curves,
    embeddings, meshes, hyperparameters and tracecomp's graphs for TensorBoard
    (`tensorboard --logdir runs`).

    log_dir: the run's folder (default: default_log_dir(comment)). purge_step: this run is
    a restart at that step: TensorBoard hides the run's earlier events from that step on.
    max_queue, flush_secs, filename_suffix: as tensorboard's EventFileWriter takes them.
    Values may be tracecomp Tensors, numpy arrays and scalars, or Python numbers."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10,
                 flush_secs=120, filename_suffix=""):
        self.log_dir = os.fspath(log_dir) if log_dir else default_log_dir(comment)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._writers = {}      # folder -> its EventFileWriter: the run's and its sub-runs'
        self._projector = ProjectorConfig()     # every add_embedding's, rewritten each time
        self._writer()          # the folder and its event file exist from the start, as torch's

    def get_logdir(self):
        """The folder this writer's event file is in."""
        return self.log_dir

    # --- the add_* methods ---------------------------------------------------------------
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One point of the plot `tag`. new_style writes it as a tensor (float64 with
        double_precision) rather than the float32 `simple_value` field."""
        self._add(summaries.scalar(tag, scalar_value, new_style, double_precision),
                  global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several lines in one plot `main_tag`: each tag's values go to a sub-run
        `<log_dir>/<main_tag>_<tag>` (a '/' of main_tag written '_'), all with one walltime."""
        walltime = time.time() if walltime is None else walltime
        for tag, value in tag_scalar_dict.items():
            folder = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{tag}")
            self._add(summaries.scalar(main_tag, value), global_step, walltime, folder)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """The distribution of values (a Tensor, array or list, any shape). bins:
        "tensorflow" (TensorFlow's exponential buckets) or anything numpy.histogram takes."""
        self._add(summaries.histogram(tag, values, bins, max_bins), global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None):
        """A histogram counted elsewhere: its statistics, and each bucket's upper limit and
        count (bucket i holds the values in (bucket_limits[i-1], bucket_limits[i]])."""
        self._add(summaries.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits,
                                          bucket_counts), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """A string, which TensorBoard renders as Markdown."""
        self._add(summaries.text(tag, text_string), global_step, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image, laid out as dataformats says ("CHW", "HWC", "HW", ...): uint8 pixel
        values, or floats in [0, 1]. Encoded as PNG with Pillow, as torch does."""
        self._add(images.image(tag, img_tensor, dataformats), global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None,
                   dataformats="NCHW"):
        """A batch of images tiled into one, 8 a row as torch tiles them: dataformats
        "NCHW", "NHWC", ... (or one image's, as add_image takes it)."""
        self._add(images.image(tag, img_tensor, dataformats, "add_images"), global_step,
                  walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib Figure as an image, or a list of them tiled as add_images tiles a
        batch; close: then close them in pyplot."""
        self._add(images.figure(tag, figure, close), global_step, walltime)

    def add_video(self, tag, vid_tensor, global_step=None, fps=4, walltime=None):
        """Clips (N, T, C, H, W: uint8 pixel values or floats in [0, 1]) tiled into one
        animated GIF, which the images dashboard plays at fps frames per second."""
        self._add(video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """One channel of samples in [-1, 1] (shape (L,) or (1, L)) as a 16-bit WAV."""
        self._add(audio(tag, snd_tensor, sample_rate), global_step, walltime)

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127,
                     weights=None, walltime=None):
        """The precision-recall curve of predictions (probabilities in [0, 1]) against
        labels (true/false), at num_thresholds thresholds (at most 127, as torch's)."""
        self._add(pr_curve(tag, labels, predictions, num_thresholds, weights), global_step,
                  walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts,
                         true_negative_counts, false_negative_counts, precision, recall,
                         global_step=None, num_thresholds=127, weights=None, walltime=None):
        """A precision-recall curve counted elsewhere: one value per threshold in each of
        the six. weights is accepted for torch's signature and unused, as in torch."""
        self._add(pr_curve_raw(tag, true_positive_counts, false_positive_counts,
                               true_negative_counts, false_negative_counts, precision, recall,
                               num_thresholds), global_step, walltime)

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None,
                      tag="default", metadata_header=None):
        """Points (mat: N x D) for the projector, with a label each (metadata, or rows of
        columns named by metadata_header) and an image each (label_img: N x C x H x W).
        Written as files under `<log_dir>/<global_step:05d>/<tag>/` (embedding.py)."""
        embedding.add_embedding(self._projector, self.log_dir, mat, metadata, label_img,
                                global_step, tag, metadata_header)

    def add_mesh(self, tag, vertices, colors=None, faces=None, config_dict=None,
                 global_step=None, walltime=None):
        """A point cloud, or a triangle mesh with faces, for the 3D mesh dashboard:
        vertices, colors (0..255) and faces (vertex indices), each (batch, count, 3);
        config_dict: three.js settings (camera, lights, material)."""
        self._add(mesh(tag, vertices, colors, faces, config_dict), global_step, walltime)

    def add_custom_scalars(self, layout):
        """Charts of the Custom Scalars dashboard that gather scalar tags: {category:
        {title: ["Multiline", tags] or ["Margin", [value, lower, upper]]}}. TensorBoard
        reads one layout a run, so call it once per writer."""
        self._add(custom_scalars(layout))

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        """One Multiline chart of tags: add_custom_scalars' shorthand."""
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        """One Margin chart of tags = [value, lower, upper]: add_custom_scalars'
        shorthand."""
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None,
                    run_name=None, global_step=None):
        """One session of the hparams dashboard, in the sub-run `<log_dir>/<run_name>`
        (default: the time): the hyperparameters, and metric_dict's values as scalars."""
        experiment, start, end = hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        folder = os.path.join(self.log_dir, run_name or str(time.time()))
        with SummaryWriter(log_dir=folder) as run:
            for summary in (experiment, start, end):
                run._add(summary, global_step)
            for tag, value in metric_dict.items():
                run.add_scalar(tag, value, global_step)

    def add_graph(self, model, input_to_model=None, verbose=False, *, stages=None):
        """tracecomp's graphs of model (an nn.Module, or tracecomp.compile of one) called
        on input_to_model (a Tensor, or a tuple of the arguments): the traced graph, the
        forward and backward graphs and both as optimized (or the `stages` named), each
        under its own top-level scope with ops grouped by module (graph.py). verbose
        prints each stage's IR text."""
        graph_def = graph.model_graph_def(model, input_to_model, stages, verbose)
        self._add_event(Event(graph_def=graph_def.SerializeToString()))

    # --- files ---------------------------------------------------------------------------
    def flush(self):
        """Write every queued event to disk."""
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        """Flush and close every event file; a later add_* opens new ones."""
        for writer in self._writers.values():
            writer.flush()
            writer.close()
        self._writers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _writer(self, folder=None):
        """The EventFileWriter of folder (default: the run's), opened when first needed."""
        folder = folder or self.log_dir
        writer = self._writers.get(folder)
        if writer is None:
            writer = EventFileWriter(folder, self.max_queue, self.flush_secs,
                                     self.filename_suffix)
            self._writers[folder] = writer
            if folder == self.log_dir and self.purge_step is not None:
                # a session that starts at purge_step: TensorBoard's reader drops the run's
                # events from that step on that came before it (those of the crashed run)
                step, self.purge_step = self.purge_step, None
                self._add_event(Event(step=step, file_version="brain.Event:2"))
                self._add_event(Event(step=step,
                                      session_log=SessionLog(status=SessionLog.START)))
        return writer

    def _add(self, summary, global_step=None, walltime=None, folder=None):
        self._add_event(Event(summary=summary), global_step, walltime, folder)

    def _add_event(self, event, step=None, walltime=None, folder=None):
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)      # a Tensor or numpy integer step, too
        self._writer(folder).add_event(event)
