"""torch.hub: a hubconf.py in a temporary folder loaded with source='local' (dependencies,
entry points, a model whose weights are a real torch checkpoint), the hub folder's rules
(TORCH_HOME, XDG_CACHE_HOME, set_dir) against torch's, load_state_dict_from_url with its
cache and hash check through file:// URLs, and source='github' with the download served
from a local zip (no network here): the URL fetched, the folder made, the cache reused."""
import io
import os
import textwrap
import zipfile
from urllib.error import URLError

import pytest
import torch
import torch.hub as torch_hub

import tracecomp as tc
from tests.helpers import assert_close
from tracecomp.hub import downloads, repos

HUBCONF = textwrap.dedent('''
    """A tiny hub repository."""
    import tracecomp as torch
    from helper_layers import make_mlp

    dependencies = ["torch", "numpy"]

    def mlp(width=3, weights=None):
        """An MLP of 4 -> width -> 2."""
        model = make_mlp(width)
        if weights is not None:
            model.load_state_dict(torch.load(weights))
        return model

    def _private():
        return 0
''')
HELPER = textwrap.dedent('''
    import tracecomp as torch

    def make_mlp(width):
        return torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.ReLU(),
                                   torch.nn.Linear(width, 2))
''')


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "hubconf.py").write_text(HUBCONF)
    (folder / "helper_layers.py").write_text(HELPER)
    return folder


@pytest.fixture
def hub_dir(tmp_path):
    before = tc.hub.dirs._hub_dir
    tc.hub.set_dir(tmp_path / "hub")
    yield tmp_path / "hub"
    tc.hub.dirs._hub_dir = before


def test_local_load_with_torch_weights(repo, tmp_path):
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    weights = tmp_path / "mlp.pt"
    torch.save(ref.state_dict(), weights)       # a real torch checkpoint
    model = tc.hub.load(str(repo), "mlp", source="local", width=5, weights=str(weights))
    x = torch.randn(3, 4)
    assert_close(model(tc.tensor(x.numpy())), ref(x))
    assert str(repo) not in __import__("sys").path       # the folder left sys.path
    with pytest.raises(RuntimeError, match="Cannot find callable nothere in hubconf"):
        tc.hub.load(str(repo), "nothere", source="local")
    with pytest.raises(ValueError, match='Unknown source: "svn"'):
        tc.hub.load(str(repo), "mlp", source="svn")
    with pytest.raises(ValueError, match="model should be a string"):
        tc.hub.load(str(repo), 3, source="local")


def test_missing_dependencies_as_torch(repo):
    text = HUBCONF.replace('["torch", "numpy"]', '["torch", "no_such_pkg_xyz", "a.b"]')
    (repo / "hubconf.py").write_text(text)
    with pytest.raises(RuntimeError) as ours:
        tc.hub.load(str(repo), "mlp", source="local")
    assert str(ours.value) == "Missing dependencies: no_such_pkg_xyz, a.b"


def test_hub_dir_follows_torch_rules(monkeypatch, tmp_path):
    monkeypatch.setattr(tc.hub.dirs, "_hub_dir", None)
    monkeypatch.setattr(torch_hub, "_hub_dir", None)
    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "x")},
                {"HOME": str(tmp_path / "home")}):
        for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert tc.hub.get_dir() == torch_hub.get_dir()
        assert tc.hub._get_torch_home() == torch_hub._get_torch_home()
    tc.hub.set_dir("~/elsewhere")
    try:
        assert tc.hub.get_dir() == os.path.expanduser("~/elsewhere")
    finally:
        tc.hub.dirs._hub_dir = None


def test_load_state_dict_from_url_caches_and_checks_hash(hub_dir, tmp_path):
    import hashlib
    source = tmp_path / "src"
    source.mkdir()
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    good = source / f"weights-{digest[:8]}.pth"
    good.write_bytes(buffer.getvalue())
    loaded = tc.hub.load_state_dict_from_url(good.as_uri(), check_hash=True, progress=False)
    assert_close(loaded["w"], state["w"])
    cached = hub_dir / "checkpoints" / good.name
    assert cached.exists()
    good.unlink()       # the second call reads the cache, not the URL
    again = tc.utils.model_zoo.load_url(good.as_uri(), progress=False)
    assert_close(again["w"], state["w"])
    bad = source / "weights-deadbeef.pth"
    bad.write_bytes(buffer.getvalue())
    with pytest.raises(RuntimeError, match='invalid hash value \\(expected "deadbeef"'):
        tc.hub.load_state_dict_from_url(bad.as_uri(), model_dir=str(tmp_path / "m"),
                                        check_hash=True, progress=False)
    assert not os.listdir(tmp_path / "m")       # nothing half-written is left
    named = tc.hub.load_state_dict_from_url(bad.as_uri(), model_dir=str(tmp_path / "m"),
                                            file_name="mine.pth", progress=False)
    assert_close(named["w"], state["w"]) and (tmp_path / "m" / "mine.pth").exists()


def _zipball(repo_folder):
    """GitHub's zipball: the repository under one top folder owner-name-sha/."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        z.writestr("owner-tiny-abc123/", "")
        for f in sorted(repo_folder.iterdir()):
            z.write(f, f"owner-tiny-abc123/{f.name}")
    return data.getvalue()


class _Served(io.BytesIO):
    headers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_github_source_downloads_the_zipball_once(repo, hub_dir, monkeypatch, capsys):
    fetched = []
    zipball = _zipball(repo)

    def serve(request):
        url = getattr(request, "full_url", request)
        fetched.append(url)
        return _Served(zipball)
    monkeypatch.setattr(downloads, "urlopen", serve)
    model = tc.hub.load("owner/tiny:v1.0", "mlp", trust_repo=True, skip_validation=True,
                        width=4)
    assert fetched == ["https://github.com/owner/tiny/zipball/v1.0"]
    assert model[0].out_features == 4
    assert (hub_dir / "owner_tiny_v1.0" / "hubconf.py").exists()
    assert (hub_dir / "trusted_list").read_text() == "owner_tiny\n"
    # (as torch: every public callable of the hubconf, the names it imports too)
    assert tc.hub.list("owner/tiny:v1.0", trust_repo=True) == ["make_mlp", "mlp"]
    assert tc.hub.help("owner/tiny:v1.0", "mlp", trust_repo=True).strip() == \
        "An MLP of 4 -> width -> 2."
    assert len(fetched) == 1 and "Using cache found in" in capsys.readouterr().err
    tc.hub.load("owner/tiny:v1.0", "mlp", force_reload=True, skip_validation=True)
    assert len(fetched) == 2


def test_github_validation_and_offline_errors(hub_dir, monkeypatch):
    import json

    def api(request):
        url = request.full_url
        page = int(url.rsplit("&page=", 1)[1])
        body = [{"name": "main", "commit": {"sha": "abc123"}}] if page == 1 else []
        return _Served(json.dumps(body).encode())
    monkeypatch.setattr(downloads, "urlopen", api)
    repos.validate_ref("owner", "tiny", "main")
    repos.validate_ref("owner", "tiny", "abc1")
    with pytest.raises(ValueError, match="Cannot find v9 in https://github.com/owner/tiny"):
        repos.validate_ref("owner", "tiny", "v9")

    def offline(request):
        raise URLError("no network")
    monkeypatch.setattr(downloads, "urlopen", offline)
    with pytest.raises(RuntimeError, match="no internet connection"):
        tc.hub.load("owner/tiny", "mlp", trust_repo=True)
    with pytest.raises(URLError) as info:
        tc.hub.load("owner/tiny:main", "mlp", trust_repo=True, skip_validation=True)
    assert "could not download https://github.com/owner/tiny/zipball/main" in \
        "\n".join(info.value.__notes__)
    with pytest.raises(Exception, match="Untrusted repository"):
        monkeypatch.setattr("builtins.input", lambda prompt: "n")
        tc.hub.load("stranger/tiny:main", "mlp", trust_repo="check")
