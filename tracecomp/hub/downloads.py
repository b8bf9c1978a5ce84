"""torch.hub's downloads: download_url_to_file (into a temporary file beside the target,
moved into place only when whole and, when asked, when its SHA-256 starts with the hash
prefix) and load_state_dict_from_url (a checkpoint cached in <hub dir>/checkpoints, read
by tracecomp.load, which reads torch's own .pt/.pth files too).

Every network read goes through `urlopen` (this module's name for urllib's), so a test can
serve files without a network; `file://` URLs work as they are."""
import hashlib
import os
import re
import shutil
import sys
import uuid
import warnings
import zipfile
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from ..user_code import user_stacklevel
from .dirs import get_dir

HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")    # resnet18-5c106cde.pth: the hash prefix
READ_CHUNK = 128 * 1024


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """Download `url` to the path `dst`. hash_prefix: what the file's SHA-256 hex digest
    must start with (else RuntimeError, and dst is not written)."""
    dst = os.path.expanduser(dst)
    partial = f"{dst}.{uuid.uuid4().hex}.partial"   # a broken download never replaces dst
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            try:
                with urlopen(Request(url, headers={"User-Agent": "torch.hub"})) as response:
                    total = response.headers.get("Content-Length")
                    done = 0
                    while chunk := response.read(READ_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            sys.stderr.write(f"\r{done}/{total or '?'} bytes")
                    if progress:
                        sys.stderr.write("\n")
            except URLError as exc:
                exc.add_note(f"torch.hub could not download {url}: check the network (or "
                             f"use a local copy: torch.hub.load(dir, ..., source='local'))")
                raise
        if hash_prefix is not None:
            got = digest.hexdigest()
            if not got.startswith(hash_prefix):
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{got}")')
        shutil.move(partial, dst)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None, weights_only=False):
    """The checkpoint at `url`, downloaded once into model_dir (<hub dir>/checkpoints by
    default) as file_name (the URL's file name by default) and read with tracecomp.load.
    check_hash: the file name's `-<hex>.` part must start the file's SHA-256."""
    from ..serialization import load
    if os.getenv("TORCH_MODEL_ZOO"):
        warnings.warn("TORCH_MODEL_ZOO is deprecated, please use env TORCH_HOME instead",
                      stacklevel=user_stacklevel())
    model_dir = model_dir if model_dir is not None else os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    name = file_name if file_name is not None else os.path.basename(urlparse(url).path)
    cached = os.path.join(model_dir, name)
    if not os.path.exists(cached):
        sys.stdout.write(f'Downloading: "{url}" to {cached}\n')
        found = HASH_REGEX.search(name) if check_hash else None
        download_url_to_file(url, cached, found.group(1) if found else None, progress)
    if _one_file_zip(cached):   # an old checkpoint zipped by hand: its one file
        with zipfile.ZipFile(cached) as z:
            member = z.infolist()[0]
            safe_extract(z, model_dir)
        cached = os.path.join(model_dir, member.filename)
    return load(cached, map_location=map_location, weights_only=weights_only)


def _one_file_zip(path):
    """torch's legacy hub checkpoints: a zip holding one file (torch.save's own zip holds
    several entries, and is read as it is)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        members = z.infolist()
    return len(members) == 1 and not members[0].is_dir()


def safe_extract(archive, into):
    """Extract a ZipFile into `into`, refusing entries that would land outside it (an
    absolute path, `..`): ValueError naming the entry."""
    root = Path(into).resolve()
    for member in archive.infolist():
        name = os.path.normpath(member.filename)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            raise ValueError(f"Archive entry has absolute path: {member.filename}")
        if ".." in re.split(r"[/\\]", name):
            raise ValueError(f"Archive entry contains directory traversal: {member.filename}")
        if not (root / name).resolve().is_relative_to(root):
            raise ValueError(f"Archive entry escapes target directory: {member.filename}")
        archive.extract(member, root)
