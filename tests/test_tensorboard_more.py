"""SummaryWriter's media, curves and projector methods, read back with TensorBoard's own
reader (EventAccumulator) and compared with what torch.utils.tensorboard writes for the same
values: add_images and add_figure (decoded pixels), add_pr_curve(_raw), add_histogram_raw,
add_custom_scalars and add_mesh (the tensors and metadata), add_audio (the WAV bytes),
add_embedding (the projector's files, byte for byte, and as the projector parses them) and
add_video (its GIF's frames against torch's layout of clips; torch's own needs moviepy)."""
import io
import os
import wave
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorboard")
pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.custom_scalar import layout_pb2  # noqa: E402
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig  # noqa: E402
from tensorboard.plugins.projector.projector_plugin import _read_tensor_tsv_file  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402
from torch.utils.tensorboard._utils import _prepare_video  # noqa: E402

import tracecomp as tc  # noqa: E402
from tracecomp.utils.tensorboard import SummaryWriter  # noqa: E402

_RNG = np.random.default_rng(0)


def read(folder):
    """Everything TensorBoard's reader finds in one run folder (no sampling)."""
    return EventAccumulator(str(folder), size_guidance={
        "histograms": 0, "images": 0, "audio": 0, "tensors": 0}).Reload()


def both(tmp_path):
    return SummaryWriter(tmp_path / "ours"), TorchWriter(tmp_path / "torch")


def decode(encoded, mode="RGB"):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(encoded)).convert(mode))


def to_u8(floats):
    return (floats.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)


def assert_same_images(ours, theirs, tag):
    got, want = ours.Images(tag)[0], theirs.Images(tag)[0]
    assert (got.height, got.width) == (want.height, want.width), tag
    np.testing.assert_array_equal(decode(got.encoded_image_string),
                                  decode(want.encoded_image_string), err_msg=tag)


def assert_same_tensors(ours, theirs, tag):
    got, want = ours.Tensors(tag)[0], theirs.Tensors(tag)[0]
    assert got.step == want.step
    assert got.tensor_proto == want.tensor_proto, \
        f"{tag}: tracecomp={got.tensor_proto} | torch={want.tensor_proto}"
    assert ours.SummaryMetadata(tag) == theirs.SummaryMetadata(tag), tag


# --- images and figures --------------------------------------------------------------------
def test_add_images_tiles_a_batch_eight_a_row_as_torch(tmp_path):
    nchw = _RNG.random((10, 3, 4, 5)).astype(np.float32)
    nhwc = _RNG.integers(0, 256, (3, 4, 5, 3), dtype=np.uint8)
    grey = _RNG.random((9, 1, 3, 2))
    ours, theirs = both(tmp_path)
    with ours, theirs:
        ours.add_images("nchw", tc.tensor(nchw), 2)
        ours.add_images("nhwc", nhwc, 2, dataformats="NHWC")
        ours.add_images("grey", grey.tolist(), 2)
        ours.add_images("one", nchw[0], 2, dataformats="CHW")
        theirs.add_images("nchw", nchw, 2)
        theirs.add_images("nhwc", nhwc, 2, dataformats="NHWC")
        theirs.add_images("grey", grey, 2)
        theirs.add_images("one", nchw[0], 2, dataformats="CHW")
    acc, torch_acc = read(tmp_path / "ours"), read(tmp_path / "torch")
    for tag in ("nchw", "nhwc", "grey", "one"):
        assert_same_images(acc, torch_acc, tag)
    tiled = decode(acc.Images("nchw")[0].encoded_image_string)
    assert tiled.shape == (2 * 4, 8 * 5, 3)
    np.testing.assert_array_equal(tiled[4:, 5:10], to_u8(nchw[9]).transpose(1, 2, 0))
    assert (tiled[4:, 10:] == 0).all(), "the last row's empty cells are black"
    np.testing.assert_array_equal(decode(acc.Images("nhwc")[0].encoded_image_string),
                                  np.concatenate(list(nhwc), axis=1))


def _plot(offset):
    fig = plt.figure(figsize=(2, 1.5), dpi=40)
    fig.add_subplot().plot(np.arange(6) ** 2 + offset)
    return fig


def test_add_figure_renders_the_pixels_torch_renders(tmp_path):
    ours, theirs = both(tmp_path)
    with ours, theirs:
        mine = _plot(0)
        ours.add_figure("one", mine, 1)
        theirs.add_figure("one", _plot(0), 1)
        ours.add_figure("list", [_plot(1), _plot(2)], 1)
        theirs.add_figure("list", [_plot(1), _plot(2)], 1)
        kept = _plot(3)
        canvas = kept.canvas
        ours.add_figure("kept", kept, 1, close=False)
    open_figures = [plt.figure(n) for n in plt.get_fignums()]   # numbers are reused
    assert mine not in open_figures
    assert kept in open_figures and kept.canvas is canvas
    plt.close(kept)
    acc, torch_acc = read(tmp_path / "ours"), read(tmp_path / "torch")
    assert_same_images(acc, torch_acc, "one")
    assert_same_images(acc, torch_acc, "list")
    one = acc.Images("one")[0]
    assert (one.width, one.height) == (80, 60)
    assert acc.Images("list")[0].width == 2 * 80


def test_figures_of_different_sizes_cannot_be_tiled(tmp_path):
    small, big = _plot(0), plt.figure(figsize=(3, 3), dpi=40)
    with SummaryWriter(tmp_path) as writer, pytest.raises(ValueError, match="same size"):
        writer.add_figure("x", [small, big])


# --- PR curves, raw histograms, custom scalars, meshes ---------------------------------------
def test_pr_curves_are_torchs_tensors(tmp_path):
    labels = _RNG.integers(0, 2, 300)
    predictions = np.concatenate([[0.0, 1.0, 0.5], _RNG.random(297)]).astype(np.float32)
    weights = _RNG.random(300)
    ours, theirs = both(tmp_path)
    with ours, theirs:
        ours.add_pr_curve("pr", tc.tensor(labels), tc.tensor(predictions), 4)
        ours.add_pr_curve("weighted", labels.astype(bool).tolist(), predictions, 4,
                          num_thresholds=11, weights=tc.tensor(weights))
        ours.add_pr_curve("capped", labels, predictions, 4, num_thresholds=500)
        theirs.add_pr_curve("pr", labels, predictions, 4)
        theirs.add_pr_curve("weighted", labels, predictions, 4, num_thresholds=11,
                            weights=weights)
        theirs.add_pr_curve("capped", labels, predictions, 4, num_thresholds=500)
    acc, torch_acc = read(tmp_path / "ours"), read(tmp_path / "torch")
    for tag in ("pr", "weighted", "capped"):
        assert_same_tensors(acc, torch_acc, tag)
    tp, fp, tn, fn, precision, recall = tensor_util.make_ndarray(
        acc.Tensors("pr")[0].tensor_proto)
    assert len(tp) == 127
    assert (tp[0], fp[0], tn[0], fn[0]) == (labels.sum(), 300 - labels.sum(), 0, 0)
    above = predictions >= 0.5      # threshold 63 of 126 is 0.5
    assert (tp[63], fp[63]) == ((labels & above).sum(), (~labels.astype(bool) & above).sum())
    assert recall[0] == 1 and precision[63] == np.float32(tp[63] / (tp[63] + fp[63]))


def test_pr_curve_raw_is_torchs(tmp_path):
    rows = [_RNG.integers(0, 50, 5).astype(float) for _ in range(4)] + \
        [_RNG.random(5), _RNG.random(5)]
    ours, theirs = both(tmp_path)
    with ours, theirs:
        ours.add_pr_curve_raw("raw", *(tc.tensor(r) for r in rows), global_step=7,
                              num_thresholds=5)
        theirs.add_pr_curve_raw("raw", *rows, global_step=7, num_thresholds=5)
    assert_same_tensors(read(tmp_path / "ours"), read(tmp_path / "torch"), "raw")


def test_histogram_raw_is_torchs(tmp_path):
    values = np.repeat(np.arange(20) + 0.001, np.arange(20)).astype(float)
    counts, limits = np.histogram(values, bins=np.arange(22))
    stats = dict(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                 sum_squares=values.dot(values))
    ours, theirs = both(tmp_path)
    with ours, theirs:
        ours.add_histogram_raw("h", **stats, bucket_limits=tc.tensor(limits[1:]),
                               bucket_counts=counts.tolist(), global_step=1)
        theirs.add_histogram_raw("h", **stats, bucket_limits=limits[1:].tolist(),
                                 bucket_counts=counts.tolist(), global_step=1)
    got = read(tmp_path / "ours").Histograms("h")[0]
    want = read(tmp_path / "torch").Histograms("h")[0]
    assert got.step == want.step == 1
    assert got.histogram_value == want.histogram_value, \
        f"tracecomp={got.histogram_value} | torch={want.histogram_value}"
    with SummaryWriter(tmp_path / "bad") as writer, pytest.raises(ValueError, match="3 bucket"):
        writer.add_histogram_raw("h", 0, 1, 2, 1, 1, [1, 2, 3], [1, 1])


def test_custom_scalars_layout_is_torchs(tmp_path):
    layout = {"Losses": {"train vs val": ["Multiline", ["loss/train", "loss/val"]],
                         "band": ["Margin", ["loss/mean", "loss/low", "loss/high"]]},
              "Other": {"acc": ["Multiline", ["acc.*"]]}}
    for name, call in [("layout", lambda w: w.add_custom_scalars(layout)),
                       ("multi", lambda w: w.add_custom_scalars_multilinechart(
                           ["a", "b"], category="c", title="t")),
                       ("margin", lambda w: w.add_custom_scalars_marginchart(["m", "lo", "hi"]))]:
        ours, theirs = SummaryWriter(tmp_path / name / "ours"), TorchWriter(
            tmp_path / name / "torch")
        with ours, theirs:
            call(ours)
            call(theirs)
        assert_same_tensors(read(tmp_path / name / "ours"), read(tmp_path / name / "torch"),
                            "custom_scalars__config__")
    proto = read(tmp_path / "layout" / "ours").Tensors("custom_scalars__config__")[0]
    parsed = layout_pb2.Layout.FromString(tensor_util.make_ndarray(proto.tensor_proto).item())
    assert [c.title for c in parsed.category] == ["Losses", "Other"]
    assert parsed.category[0].chart[1].margin.series[0].upper == "loss/high"
    with SummaryWriter(tmp_path / "bad") as writer, pytest.raises(ValueError, match="3 tags"):
        writer.add_custom_scalars_marginchart(["a", "b"])


def test_mesh_is_torchs(tmp_path):
    vertices = np.array([[[1, 1, 1], [-1, -1, 1], [1, -1, -1], [-1, 1, -1]]], np.float32)
    colors = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 255]]], np.int32)
    faces = np.array([[[0, 2, 3], [0, 3, 1], [0, 1, 2], [1, 3, 2]]], np.int32)
    config = {"camera": {"cls": "PerspectiveCamera", "fov": 75}}
    ours, theirs = both(tmp_path)
    with ours, theirs:
        ours.add_mesh("m", tc.tensor(vertices), colors=colors, faces=tc.tensor(faces),
                      config_dict=config, global_step=3)
        ours.add_mesh("cloud", vertices, global_step=3)
        theirs.add_mesh("m", torch.from_numpy(vertices), colors=torch.from_numpy(colors),
                        faces=torch.from_numpy(faces), config_dict=config, global_step=3)
        theirs.add_mesh("cloud", torch.from_numpy(vertices), global_step=3)
    acc, torch_acc = read(tmp_path / "ours"), read(tmp_path / "torch")
    assert sorted(acc.Tags()["tensors"]) == ["cloud_VERTEX", "m_COLOR", "m_FACE", "m_VERTEX"]
    for tag in acc.Tags()["tensors"]:
        assert_same_tensors(acc, torch_acc, tag)
    with SummaryWriter(tmp_path / "bad") as writer, pytest.raises(ValueError, match="batch"):
        writer.add_mesh("m", vertices[0])


# --- audio and video -----------------------------------------------------------------------
def test_audio_is_torchs_wav(tmp_path):
    sound = (0.8 * np.sin(np.linspace(0, 60, 1000))).astype(np.float32)[None]
    loud = np.linspace(-2, 2, 50)
    ours, theirs = both(tmp_path)
    with ours, theirs:
        ours.add_audio("sine", tc.tensor(sound), 1, sample_rate=8000)
        with pytest.warns(UserWarning, match="clipped"):
            ours.add_audio("loud", loud.tolist(), 1)
        theirs.add_audio("sine", sound, 1, sample_rate=8000)
        theirs.add_audio("loud", loud, 1)
    acc, torch_acc = read(tmp_path / "ours"), read(tmp_path / "torch")
    for tag in ("sine", "loud"):
        got, want = acc.Audio(tag)[0], torch_acc.Audio(tag)[0]
        assert replace(got, wall_time=0) == replace(want, wall_time=0), tag
    with wave.open(io.BytesIO(acc.Audio("sine")[0].encoded_audio_string)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getnframes()) == (1, 8000, 1000)
        pcm = np.frombuffer(wav.readframes(1000), "<i2")
    np.testing.assert_array_equal(pcm, (sound[0] * 32767).astype(np.int16))
    with SummaryWriter(tmp_path / "bad") as writer, pytest.raises(ValueError, match="one ch"):
        writer.add_audio("stereo", np.zeros((2, 10)))


def gif_frames(encoded, mode):
    from PIL import Image
    gif = Image.open(io.BytesIO(encoded))
    frames, durations = [], []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert(mode)))
        durations.append(gif.info["duration"])
    return np.stack(frames), durations


@pytest.mark.parametrize("clips", [3, 8])
def test_video_is_a_gif_of_clips_tiled_as_torch_tiles_them(tmp_path, clips):
    # few enough pixels a frame that the GIF's 256-colour palettes hold every colour exactly
    video = _RNG.random((clips, 4, 3, 5, 6)).astype(np.float32)
    grey = _RNG.integers(0, 256, (2, 3, 1, 4, 4), dtype=np.uint8)
    with SummaryWriter(tmp_path) as writer:
        writer.add_video("rgb", tc.tensor(video), 0, fps=5)
        writer.add_video("grey", grey, 0)
    acc = read(tmp_path)
    image = acc.Images("rgb")[0]
    frames, durations = gif_frames(image.encoded_image_string, "RGB")
    want = to_u8(_prepare_video(video))
    assert (image.height, image.width) == want.shape[1:3]
    np.testing.assert_array_equal(frames, want)
    assert durations == [200] * 4
    frames, durations = gif_frames(acc.Images("grey")[0].encoded_image_string, "L")
    np.testing.assert_array_equal(frames, np.concatenate([grey[0], grey[1]], axis=-1)[:, 0])
    assert durations == [250] * 3
    with pytest.raises(ValueError, match="N, T, C, H, W"):
        SummaryWriter(tmp_path).add_video("v", video[0])


# --- the projector -------------------------------------------------------------------------
def projector_files(folder):
    return {os.path.relpath(os.path.join(root, name), folder): open(
        os.path.join(root, name), "rb").read() for root, _, names in os.walk(folder)
        for name in names if not name.startswith("events.out")}


def test_embedding_files_are_torchs_and_the_projector_reads_them(tmp_path):
    mat = _RNG.standard_normal((10, 4)).astype(np.float32)
    labels = [f"class {i % 3}" for i in range(10)]
    rows = [[f"c{i % 3}", i] for i in range(5)]
    rgb = _RNG.random((10, 3, 6, 6)).astype(np.float32)
    grey = _RNG.random((5, 1, 4, 7))      # wider than tall: a square sprite, as torch's
    ours, theirs = both(tmp_path)
    with ours, theirs:
        for writer, wrap in ((ours, tc.tensor), (theirs, torch.from_numpy)):
            writer.add_embedding(wrap(mat), metadata=labels, label_img=wrap(rgb),
                                 global_step=3, tag="emb/a%")
            writer.add_embedding(wrap(mat[:5]), metadata=rows, metadata_header=["cls", "i"])
            writer.add_embedding(wrap(mat[:5].astype(np.float64)), label_img=wrap(grey),
                                 tag="grey")
    got, want = projector_files(tmp_path / "ours"), projector_files(tmp_path / "torch")
    assert sorted(got) == sorted(want)
    assert "00003/emb%2fa%25/sprite.png" in got
    for name in got:
        assert got[name] == want[name], f"{name}: tracecomp={got[name][:200]!r} | " \
                                        f"torch={want[name][:200]!r}"
    config = text_format.Parse(got["projector_config.pbtxt"].decode(), ProjectorConfig())
    assert [e.tensor_name for e in config.embeddings] == ["emb/a%:00003", "default:00000",
                                                         "grey:00000"]
    first = config.embeddings[0]
    np.testing.assert_array_equal(
        _read_tensor_tsv_file(str(tmp_path / "ours" / first.tensor_path)), mat)
    assert got[first.metadata_path].decode().splitlines() == labels
    sprite = decode(got[first.sprite.image_path])
    assert sprite.shape == (4 * 6, 4 * 6, 3) and list(first.sprite.single_image_dim) == [6, 6]
    np.testing.assert_array_equal(sprite[6:12, 0:6], to_u8(rgb[4]).transpose(1, 2, 0))


def test_embedding_sprites_of_uint8_images_keep_their_pixels(tmp_path):
    images = _RNG.integers(0, 256, (4, 3, 2, 2), dtype=np.uint8)
    with SummaryWriter(tmp_path) as writer:
        writer.add_embedding(np.eye(4), label_img=images)
    sprite = decode((tmp_path / "00000" / "default" / "sprite.png").read_bytes())
    np.testing.assert_array_equal(sprite[2:4, 2:4], images[3].transpose(1, 2, 0))


def test_embedding_errors_come_before_any_file(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match="3 metadata labels for 4 points"):
            writer.add_embedding(np.eye(4), metadata=["a", "b", "c"])
        with pytest.raises(ValueError, match="1 or 3 channels"):
            writer.add_embedding(np.eye(4), label_img=np.zeros((4, 2, 3, 3)))
        with pytest.raises(ValueError, match="points, features"):
            writer.add_embedding(np.zeros(4))
    assert not (tmp_path / "00000").exists()
    assert not (tmp_path / "projector_config.pbtxt").exists()


# --- errors --------------------------------------------------------------------------------
def test_errors_name_the_method_and_the_problem(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match=r"add_images\('x'\).*must order the letters"):
            writer.add_images("x", np.zeros((2, 3, 4, 4)), dataformats="NCH")
        with pytest.raises(ValueError, match="dataformats='NCHW' has 4"):
            writer.add_images("x", np.zeros((3, 4, 4)))
        with pytest.raises(ValueError, match="one label per prediction"):
            writer.add_pr_curve("pr", [0, 1], [0.5])
        with pytest.raises(ValueError, match="sigmoid or softmax"):
            writer.add_pr_curve("pr", [0, 1], [0.5, 3.0])
        with pytest.raises(ValueError, match="lengths"):
            writer.add_pr_curve_raw("pr", [1], [1], [1], [1], [1], [1, 2])
