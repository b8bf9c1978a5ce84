"""torch.hub for tracecomp: models from a folder or a GitHub repository with a hubconf.py,
and checkpoints from URLs, cached where torch caches them.

    model = tracecomp.hub.load("/path/to/repo", "resnet_tiny", source="local", pretrained=True)
    model = tracecomp.hub.load("owner/repo:v1.0", "resnet_tiny")     # GitHub's zip of v1.0
    state = tracecomp.hub.load_state_dict_from_url(url, check_hash=True)

A hubconf.py lists its `dependencies` (packages that must import; "torch" is met by
tracecomp, which stands for it) and defines entry points, functions that build what they
name. Checkpoints load through tracecomp.load, which reads torch's .pt/.pth files, so a
hubconf that builds a tracecomp model and loads torch weights works as it does with torch."""
import contextlib
import importlib.util
import os
import sys

from .dirs import _get_torch_home, get_dir, set_dir  # noqa: F401  (torch.hub's name too)
from .downloads import HASH_REGEX, download_url_to_file, load_state_dict_from_url  # noqa: F401
from .repos import repo_folder

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load",
           "load_state_dict_from_url", "set_dir"]

HUBCONF = "hubconf.py"
# a dependency that tracecomp itself meets: hubconfs written for torch list "torch"
MET_BY_TRACECOMP = {"torch"}


def load(repo_or_dir, model, *args, source="github", trust_repo="check", force_reload=False,
         verbose=True, skip_validation=False, **kwargs):
    """hubconf's entry point `model` called with *args and **kwargs. source="github":
    repo_or_dir is "owner/name[:ref]", downloaded into the hub folder once; "local": a
    folder holding a hubconf.py."""
    source = source.lower()
    if source not in ("github", "local"):
        raise ValueError(f'Unknown source: "{source}". Allowed values: "github" | "local".')
    if source == "github":
        repo_or_dir = repo_folder(repo_or_dir, force_reload, trust_repo, verbose,
                                  skip_validation)
    with _on_path(repo_or_dir):
        entry = _entry(_hubconf(repo_or_dir), model)
        return entry(*args, **kwargs)


def list(github, force_reload=False, skip_validation=False, trust_repo="check",  # noqa: A001
         verbose=True):
    """The names of the entry points of a GitHub repository's hubconf (its public
    callables)."""
    folder = repo_folder(github, force_reload, trust_repo, verbose, skip_validation)
    with _on_path(folder):
        module = _hubconf(folder)
    return [name for name in dir(module)
            if callable(getattr(module, name)) and not name.startswith("_")]


def help(github, model, force_reload=False, skip_validation=False,  # noqa: A001
         trust_repo="check"):
    """The docstring of entry point `model` of a GitHub repository's hubconf."""
    folder = repo_folder(github, force_reload, trust_repo, True, skip_validation)
    with _on_path(folder):
        module = _hubconf(folder)
    return _entry(module, model).__doc__


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):    # a dotted name whose parent is missing
        return False


@contextlib.contextmanager
def _on_path(folder):
    """The repository's folder first on sys.path while its hubconf imports and runs (it
    imports its own modules)."""
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _hubconf(folder):
    path = os.path.join(folder, HUBCONF)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"torch.hub: no {HUBCONF} in {folder}")
    spec = importlib.util.spec_from_file_location(HUBCONF, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry(module, model):
    """The entry point named `model`, once the hubconf's dependencies are met."""
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    missing = [name for name in getattr(module, "dependencies", None) or ()
               if name not in MET_BY_TRACECOMP and not _importable(name)]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    fn = getattr(module, model, None) if model in dir(module) else None
    if fn is None or not callable(fn):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return fn

