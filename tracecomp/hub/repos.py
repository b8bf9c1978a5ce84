"""torch.hub's GitHub repositories: "owner/name[:ref]" -> a folder of its code in the hub
folder (<hub dir>/owner_name_ref), downloaded as GitHub's zipball of the ref and unpacked
once; later calls use the folder unless force_reload. Before a download the repository
must be trusted (trust_repo, torch's rules and prompt) and, unless skip_validation, the
ref must be one of the repository's own branches or tags (GitHub's API), not a fork's."""
import json
import os
import shutil
import sys
import warnings
import zipfile
from urllib.error import HTTPError, URLError
from urllib.request import Request

from ..user_code import user_stacklevel
from . import downloads
from .dirs import get_dir

TRUSTED_OWNERS = ("facebookresearch", "facebookincubator", "pytorch", "fairinternal")


def archive_url(owner, name, ref):
    """The zip GitHub serves for a ref of a repository."""
    return f"https://github.com/{owner}/{name}/zipball/{ref}"


def parse(github):
    """(owner, name, ref) of "owner/name[:ref]"; without a ref, the default branch: main if
    the repository has one, else master (offline: whichever is cached)."""
    repo, _, ref = github.partition(":")
    if repo.count("/") != 1:
        raise ValueError(f'torch.hub: expected a GitHub repository "owner/name[:ref]", got '
                         f'{github!r} (for a folder on this machine pass source="local")')
    owner, name = repo.split("/")
    if ref:
        return owner, name, ref
    try:
        with downloads.urlopen(f"https://github.com/{owner}/{name}/tree/main/"):
            return owner, name, "main"
    except HTTPError as exc:
        if exc.code == 404:
            return owner, name, "master"
        raise
    except URLError as exc:
        for ref in ("main", "master"):
            if os.path.exists(os.path.join(get_dir(), f"{owner}_{name}_{ref}")):
                return owner, name, ref
        raise RuntimeError(f"It looks like there is no internet connection and the repo could "
                           f"not be found in the cache ({get_dir()})") from exc


def repo_folder(github, force_reload, trust_repo, verbose=True, skip_validation=False):
    """The folder holding the code of `github` ("owner/name[:ref]"), downloaded if needed."""
    hub_dir = get_dir()
    os.makedirs(hub_dir, exist_ok=True)
    owner, name, ref = parse(github)
    flat_ref = ref.replace("/", "_")    # a branch name may hold slashes
    folder_name = f"{owner}_{name}_{flat_ref}"
    folder = os.path.join(hub_dir, folder_name)
    check_trusted(owner, name, folder_name, trust_repo)
    if not force_reload and os.path.exists(folder):
        if verbose:
            sys.stderr.write(f"Using cache found in {folder}\n")
        return folder
    if not skip_validation:
        validate_ref(owner, name, ref)
    zipped = os.path.join(hub_dir, flat_ref + ".zip")
    _remove(zipped)
    url = archive_url(owner, name, ref)
    sys.stdout.write(f'Downloading: "{url}" to {zipped}\n')
    downloads.download_url_to_file(url, zipped, progress=False)
    with zipfile.ZipFile(zipped) as archive:
        top = os.path.join(hub_dir, archive.infolist()[0].filename)    # owner-name-sha/
        _remove(top)
        downloads.safe_extract(archive, hub_dir)
    _remove(zipped)
    _remove(folder)
    shutil.move(top, folder)
    return folder


def check_trusted(owner, name, folder_name, trust_repo):
    """torch's trust rules: a repository is trusted if listed in <hub dir>/trusted_list,
    already downloaded, or of a trusted owner. trust_repo=True trusts it (and lists it);
    False always asks, "check" asks when it is not trusted; None warns when it is not."""
    hub_dir = get_dir()
    listed_file = os.path.join(hub_dir, "trusted_list")
    listed = ()
    if os.path.exists(listed_file):
        with open(listed_file) as f:
            listed = tuple(line.strip() for line in f)
    owner_name = f"{owner}_{name}"
    trusted = owner_name in listed or owner in TRUSTED_OWNERS or \
        os.path.isdir(os.path.join(hub_dir, folder_name))
    if trust_repo is None:
        if not trusted:
            warnings.warn("You are about to download and run code from an untrusted "
                          "repository. In a future release, this won't be allowed. To add the "
                          "repository to your trusted list, change the command to "
                          "load(..., trust_repo=False) and a command prompt will appear asking "
                          "for an explicit confirmation of trust, or load(..., trust_repo=True"
                          "), which will assume that the prompt is to be answered with 'yes'.",
                          stacklevel=user_stacklevel())
        return
    if trust_repo is False or (trust_repo == "check" and not trusted):
        answer = input(f"The repository {owner_name} does not belong to the list of trusted "
                       f"repositories and as such cannot be downloaded. Do you trust this "
                       f"repository and wish to add it to the trusted list of repositories "
                       f"(y/N)?").lower()
        if answer in ("n", "no", ""):
            raise Exception("Untrusted repository.")  # noqa: TRY002 - torch's own exception
        if answer not in ("y", "yes"):
            raise ValueError(f"Unrecognized response {answer}.")
        if trusted:
            print("The repository is already trusted.")
    if not trusted:
        with open(listed_file, "a") as f:
            f.write(owner_name + "\n")


def validate_ref(owner, name, ref):
    """ValueError unless ref names a branch or tag of owner/name, or starts a commit they
    point at (a fork's commit would run code the owner never published)."""
    headers = {"Accept": "application/vnd.github.v3+json"}
    token = os.environ.get("GITHUB_TOKEN")
    if token is not None:
        headers["Authorization"] = f"token {token}"
    for kind in ("branches", "tags"):
        page = 1
        while True:
            url = f"https://api.github.com/repos/{owner}/{name}/{kind}?per_page=100&page={page}"
            with downloads.urlopen(Request(url, headers=headers)) as response:
                entries = json.loads(response.read().decode("utf-8"))
            if not entries:
                break
            if any(e["name"] == ref or e["commit"]["sha"].startswith(ref) for e in entries):
                return
            page += 1
    raise ValueError(f"Cannot find {ref} in https://github.com/{owner}/{name}. If it's a "
                     f"commit from a forked repo, please call hub.load() with forked repo "
                     f"directly.")


def _remove(path):
    if os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
