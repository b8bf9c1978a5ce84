"""tracecomp.utils.tensorboard.SummaryWriter, read back with TensorBoard's own reader
(EventAccumulator): scalars, add_scalars' sub-runs, histograms, text, images, hparams and
the graph view of a compiled MLP; scalars, histograms, text and images also against what
torch.utils.tensorboard writes for the same values. Also: `import tracecomp` leaves
tensorboard alone, and without it the import error says what to install."""
import io
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

import tracecomp as tc  # noqa: E402
from tracecomp.compiler import fused_step  # noqa: E402
from tracecomp.utils.tensorboard import SummaryWriter  # noqa: E402
from tracecomp.utils.tensorboard.summaries import TENSORFLOW_BINS  # noqa: E402

_RNG = np.random.default_rng(0)


def read(folder):
    """Everything TensorBoard's reader finds in one run folder (no sampling)."""
    return EventAccumulator(str(folder), size_guidance={
        "scalars": 0, "histograms": 0, "images": 0, "tensors": 0}).Reload()


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def decode_png(encoded):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(encoded)))


def test_import_tracecomp_leaves_tensorboard_alone():
    code = "import sys, tracecomp; print('tensorboard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_tensorboard_the_import_error_says_what_to_install():
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "try:\n    import tracecomp.utils.tensorboard\n"
            "except ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install tensorboard" in out.stdout


# --- scalars -------------------------------------------------------------------------------
VALUES = [tc.tensor(0.25), np.float32(1.5), 3, tc.tensor([2.0], requires_grad=True),
          np.array(-7.125)]


def test_scalars_read_back_as_torch_writes_them(tmp_path):
    with SummaryWriter(tmp_path / "ours") as ours, TorchWriter(tmp_path / "torch") as theirs:
        for step, value in enumerate(VALUES):
            ours.add_scalar("loss", value, global_step=np.int64(10 * step))
            plain = value.detach().numpy() if isinstance(value, tc.Tensor) else value
            theirs.add_scalar("loss", plain, global_step=10 * step)
    got = scalars(read(tmp_path / "ours"), "loss")
    assert [s for s, _ in got] == [0, 10, 20, 30, 40]
    assert [v for _, v in got] == [0.25, 1.5, 3.0, 2.0, -7.125]
    assert got == scalars(read(tmp_path / "torch"), "loss")


def test_new_style_scalars_are_tensors_of_the_scalars_plugin(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalar("f32", 0.1, 1, new_style=True)
        writer.add_scalar("f64", 0.1, 1, new_style=True, double_precision=True)
    acc = read(tmp_path)
    f32 = tensor_util.make_ndarray(acc.Tensors("f32")[0].tensor_proto)
    f64 = tensor_util.make_ndarray(acc.Tensors("f64")[0].tensor_proto)
    assert (f32.dtype, f32.item()) == (np.float32, np.float32(0.1))
    assert (f64.dtype, f64.item()) == (np.float64, 0.1)
    assert acc.SummaryMetadata("f32").plugin_data.plugin_name == "scalars"


def test_add_scalars_writes_a_sub_run_per_tag(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        for step in range(3):
            writer.add_scalars("loss/all", {"train": 1.0 / (step + 1), "val": tc.tensor(step)},
                               step)
    train, val = read(tmp_path / "loss_all_train"), read(tmp_path / "loss_all_val")
    assert scalars(train, "loss/all") == [(0, 1.0), (1, 0.5), (2, np.float32(1 / 3))]
    assert scalars(val, "loss/all") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert read(tmp_path).Tags()["scalars"] == []


def test_a_scalar_must_be_one_value(tmp_path):
    with SummaryWriter(tmp_path) as writer, pytest.raises(ValueError, match="one value"):
        writer.add_scalar("x", tc.ones(3))


# --- histograms ----------------------------------------------------------------------------
@pytest.mark.parametrize("bins, max_bins", [("tensorflow", None), ("auto", None), (64, 10)])
def test_histogram_counts_what_numpy_counts_and_what_torch_writes(tmp_path, bins, max_bins):
    values = _RNG.standard_normal((20, 50)).astype(np.float32)
    with SummaryWriter(tmp_path / "ours") as ours, TorchWriter(tmp_path / "torch") as theirs:
        ours.add_histogram("w", tc.tensor(values, requires_grad=True), 3, bins=bins,
                           max_bins=max_bins)
        ours.add_histogram("w", values.tolist(), 4, bins=bins, max_bins=max_bins)
        theirs.add_histogram("w", values, 3, bins=bins, max_bins=max_bins)
    got = read(tmp_path / "ours").Histograms("w")
    want = read(tmp_path / "torch").Histograms("w")[0].histogram_value
    assert [e.step for e in got] == [3, 4]
    for event in got:
        h = event.histogram_value
        flat = values.astype(np.float64).ravel()
        assert (h.min, h.max, h.num) == (flat.min(), flat.max(), flat.size)
        assert h.sum == pytest.approx(flat.sum()) and h.sum_squares == pytest.approx(flat @ flat)
        assert sum(h.bucket) == flat.size
        assert h == want, f"tracecomp={h} | torch={want}"


def test_histogram_buckets_are_the_filled_tensorflow_buckets(tmp_path):
    values = np.array([0.5, 0.5, 2.0, 3.0, -1.0])
    with SummaryWriter(tmp_path) as writer:
        writer.add_histogram("h", values, 0)
    h = read(tmp_path).Histograms("h")[0].histogram_value
    counts, _ = np.histogram(values, TENSORFLOW_BINS)
    filled = np.flatnonzero(counts)
    assert h.bucket == [0, *counts[filled[0]:filled[-1] + 1]]
    assert h.bucket_limit == list(TENSORFLOW_BINS[filled[0]:filled[-1] + 2])


def test_histogram_of_nothing_countable_is_an_error(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="no values"):
            writer.add_histogram("h", [])
        with pytest.raises(ValueError, match="NaN"):
            writer.add_histogram("h", [np.nan, np.inf])


# --- text and images -----------------------------------------------------------------------
def test_text_reads_back_as_torch_writes_it(tmp_path):
    with SummaryWriter(tmp_path / "ours") as ours, TorchWriter(tmp_path / "torch") as theirs:
        ours.add_text("notes", "**lr** = 0.1 — ünïcode", 2)
        theirs.add_text("notes", "**lr** = 0.1 — ünïcode", 2)
    got = read(tmp_path / "ours").Tensors("notes/text_summary")
    want = read(tmp_path / "torch").Tensors("notes/text_summary")
    assert got[0].step == 2
    assert tensor_util.make_ndarray(got[0].tensor_proto).item().decode() == \
        "**lr** = 0.1 — ünïcode"
    assert got[0].tensor_proto == want[0].tensor_proto


def test_images_decode_to_the_input_pixels(tmp_path):
    rgb_u8 = _RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    chw = _RNG.random((3, 4, 6)).astype(np.float32)
    grey = _RNG.random((4, 6))
    with SummaryWriter(tmp_path / "ours") as ours, TorchWriter(tmp_path / "torch") as theirs:
        ours.add_image("hwc", rgb_u8, 0, dataformats="HWC")
        ours.add_image("chw", tc.tensor(chw), 0)
        ours.add_image("grey", grey, 0, dataformats="HW")
        theirs.add_image("chw", chw, 0)
        theirs.add_image("grey", grey, 0, dataformats="HW")
    acc, torch_acc = read(tmp_path / "ours"), read(tmp_path / "torch")
    image = acc.Images("hwc")[0]
    assert (image.height, image.width) == (5, 7)
    np.testing.assert_array_equal(decode_png(image.encoded_image_string), rgb_u8)
    pixels = (chw * 255).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(decode_png(acc.Images("chw")[0].encoded_image_string), pixels)
    grey_rgb = np.repeat((grey * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(decode_png(acc.Images("grey")[0].encoded_image_string),
                                  grey_rgb)
    for tag in ("chw", "grey"):
        np.testing.assert_array_equal(decode_png(acc.Images(tag)[0].encoded_image_string),
                                      decode_png(torch_acc.Images(tag)[0].encoded_image_string))


def test_image_layout_errors_name_the_problem(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="dataformats='CHW' has 3"):
            writer.add_image("x", np.zeros((4, 4)))
        with pytest.raises(ValueError, match="channels, got 2"):
            writer.add_image("x", np.zeros((2, 4, 4)))
        with pytest.raises(ValueError, match="must order the letters"):
            writer.add_image("x", np.zeros((3, 4, 4)), dataformats="NHW")


def test_without_pillow_add_image_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with SummaryWriter(tmp_path) as writer, pytest.raises(ImportError, match="pip install pillow"):
        writer.add_image("x", np.zeros((3, 2, 2)))


# --- hparams -------------------------------------------------------------------------------
def test_hparams_session_in_its_own_run(tmp_path):
    hp = {"lr": 0.01, "batch": 32, "optim": "adam", "nesterov": True, "wd": tc.tensor(0.5),
          "skipped": None}
    with SummaryWriter(tmp_path) as writer:
        writer.add_hparams(hp, {"hparam/accuracy": tc.tensor(0.9)}, run_name="trial1",
                           hparam_domain_discrete={"batch": [16, 32]})
    acc = read(tmp_path / "trial1")
    content = acc.PluginTagToContent("hparams")
    assert sorted(content) == ["_hparams_/experiment", "_hparams_/session_end_info",
                               "_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
              for k, v in start.hparams.items()}
    assert values == {"lr": 0.01, "batch": 32.0, "optim": "adam", "nesterov": True, "wd": 0.5}
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["hparam/accuracy"]
    batch = next(i for i in experiment.hparam_infos if i.name == "batch")
    assert [v.number_value for v in batch.domain_discrete.values] == [16.0, 32.0]
    assert scalars(acc, "hparam/accuracy") == [(0, np.float32(0.9))]


def test_hparams_reject_what_the_plugin_cannot_show(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="'layers'"):
            writer.add_hparams({"layers": [1, 2]}, {})
        with pytest.raises(TypeError, match="dicts"):
            writer.add_hparams([("lr", 1)], {})


# --- the graph -----------------------------------------------------------------------------
def _mlp():
    return tc.nn.Sequential(tc.nn.Linear(4, 8), tc.nn.ReLU(), tc.nn.Linear(8, 3),
                            tc.nn.BatchNorm1d(3))


def test_graph_of_an_mlp_groups_ops_by_module_and_stage(tmp_path):
    model = _mlp()
    with SummaryWriter(tmp_path) as writer:
        writer.add_graph(model, tc.randn(2, 4))
    nodes = {n.name: n for n in read(tmp_path).Graph().node}
    assert len(nodes) == len(read(tmp_path).Graph().node), "node names are unique"
    stages = {name.split("/", 1)[0] for name in nodes}
    assert stages == {"traced", "forward", "backward", "forward.optimized",
                      "backward.optimized"}
    for node in nodes.values():
        for source in node.input:
            assert source in nodes, f"{node.name} reads {source}, which is not in the graph"
        assert node.attr["_output_shapes"].list.shape, f"{node.name} has no shape"

    def shape(name):
        return [d.size for d in nodes[name].attr["_output_shapes"].list.shape[0].dim]

    traced = [n for n in nodes.values() if n.name.startswith("traced/")]
    ops = {(n.name.rsplit("/", 1)[0], n.op) for n in traced}
    assert {("traced/0", "matmul"), ("traced/1", "relu"), ("traced/2", "matmul"),
            ("traced/input", "input"), ("traced/output", "output")} <= ops
    assert (nodes["traced/0/weight"].op, shape("traced/0/weight")) == ("parameter", [8, 4])
    assert nodes["traced/3/running_mean"].op == "buffer"
    assert shape("traced/input/input") == [2, 4] and shape("traced/output/0") == [2, 3]
    matmul = next(n for n in traced if n.name.startswith("traced/0/matmul_"))
    assert list(matmul.input) == ["traced/input/input", "traced/0/permute_0"]
    assert matmul.attr["dtype"].type == 1                      # DT_FLOAT
    assert matmul.attr["ir"].s.decode() == "%1: f32[2,8] = matmul(%input, %0)"
    # nn.Sequential is library code: the user's line is the add_graph call; the module is 0
    assert re.fullmatch(r"test_tensorboard\.py:\d+ 0", matmul.attr["source"].s.decode())
    backward = {n.op for n in nodes.values() if n.name.startswith("backward/")}
    assert {"cotangent", "saved", "matmul", "output"} <= backward
    assert shape("backward/grad/0") == [2, 3]


def test_add_graph_changes_nothing_about_the_model(tmp_path):
    """Not its mode, its buffers (batch norm's running statistics), nor which optimizer
    update its parameters get (compiling a model marks them for the compiled one)."""
    model = _mlp()
    before = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    with SummaryWriter(tmp_path) as writer:
        writer.add_graph(model, tc.randn(2, 4))
    assert model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.detach().numpy(), before[k], err_msg=k)
    assert not any(id(p) in fused_step._COMPILED_PARAMS for p in model.parameters())


def test_add_graph_of_a_compiled_model_under_no_grad_has_its_backward(tmp_path):
    with SummaryWriter(tmp_path) as writer, tc.no_grad():
        writer.add_graph(tc.compile(_mlp()), (tc.randn(2, 4),), stages=["backward"])
    names = [n.name for n in read(tmp_path).Graph().node]
    assert "backward/grad/0" in names
    assert all(name.startswith("backward/") for name in names)


def test_add_graph_errors(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(TypeError, match="nn.Module"):
            writer.add_graph(lambda x: x, tc.ones(2))
        with pytest.raises(ValueError, match="no stage"):
            writer.add_graph(_mlp(), tc.randn(2, 4), stages=["joint", "lowered"])


# --- folders and files ---------------------------------------------------------------------
def test_default_log_dir_is_torchs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writer = SummaryWriter(comment="_lr0.1")
    writer.close()
    folder = writer.get_logdir()
    assert folder.startswith("runs" + os.sep) and folder.endswith("_lr0.1")
    assert os.listdir(folder)[0].startswith("events.out.tfevents.")


def test_writing_after_close_starts_a_new_file(tmp_path):
    writer = SummaryWriter(tmp_path, filename_suffix=".tc")
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    writer.add_scalar("x", 2.0, 1)
    writer.flush()
    assert scalars(read(tmp_path), "x") == [(0, 1.0), (1, 2.0)]
    writer.close()
    assert len(os.listdir(tmp_path)) == 2
    assert all(name.endswith(".tc") for name in os.listdir(tmp_path))


def test_purge_step_hides_the_crashed_runs_later_steps(tmp_path):
    with SummaryWriter(tmp_path) as first:
        for step in range(6):
            first.add_scalar("x", step, step)
    # event files sort by their creation second: the restart's must come after
    started = int(time.time())
    while int(time.time()) == started:
        time.sleep(0.05)
    with SummaryWriter(tmp_path, purge_step=3) as restart:
        for step in range(3, 5):
            restart.add_scalar("x", 10 * step, step)
    assert scalars(read(tmp_path), "x") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
