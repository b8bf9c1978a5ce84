"""The output folder of `tracecomp dump`: it never deletes a file it did not write.

A dump writes `.tracecomp-dump-manifest` into its folder, one file name per line, and adds
each name there *before* it creates the file (so a dump that fails part-way still lists
everything it wrote). A new dump into the same folder removes exactly the files the
manifest lists, no others, so no stale stage survives and the user's own files (notes,
their own index.md or *.txt) are never touched. A folder that is not empty and has no
manifest was not written by a dump: it is refused, with one line that says what to do.
"""
import os
import re

MANIFEST = ".tracecomp-dump-manifest"
# the names a dump writes; a manifest line that is anything else (a path, a name someone
# added by hand) is never deleted
_DUMP_FILE = re.compile(r"^\d{2,}_[A-Za-z0-9._-]+\.(txt|dot|svg|ll|s|py|ptx)$"
                        r"|^pass_log\.txt$|^index\.md$")


class FolderError(ValueError):
    """The output folder cannot be used: reported in one line (exit status 2 from the CLI)."""


def check(path):
    """Raise FolderError unless a dump may write to `path`: a new or empty folder, or one
    an earlier dump wrote. Changes nothing (so the CLI can ask before compiling)."""
    if not os.path.exists(path):
        return
    if not os.path.isdir(path):
        raise FolderError(f"--out {path}: exists and is not a folder; choose a folder name")
    if os.path.isfile(os.path.join(path, MANIFEST)):
        return
    others = sorted(os.listdir(path))
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise FolderError(f"--out {path}: the folder is not empty ({shown}) and was not "
                          f"written by tracecomp dump (it has no {MANIFEST}); dump into a "
                          f"new or empty folder, so that none of its files is overwritten")


class DumpFolder:
    """An output folder opened for a new dump: the previous dump's files are gone, and
    `file(name)` gives the path of each new file while recording it in the manifest."""

    def __init__(self, path):
        self.path = path
        check(path)
        os.makedirs(path, exist_ok=True)
        self.manifest = os.path.join(path, MANIFEST)
        for name in self._previous():
            try:
                os.remove(os.path.join(path, name))
            except FileNotFoundError:
                pass
        self.names = []
        with open(self.manifest, "w", encoding="utf-8"):
            pass

    def _previous(self):
        """The files the last dump here wrote (check() refused a folder without a manifest
        that is not empty)."""
        if not os.path.isfile(self.manifest):
            return []
        with open(self.manifest, encoding="utf-8") as f:
            names = [line.strip() for line in f]
        return [n for n in names if _DUMP_FILE.match(n)
                and os.path.isfile(os.path.join(self.path, n))]

    def file(self, name):
        """The path for a new file `name` of this dump, recorded in the manifest first."""
        if not _DUMP_FILE.match(name):
            raise ValueError(f"internal: {name!r} is not a dump file name")
        path = os.path.join(self.path, name)
        if name not in self.names:
            if os.path.lexists(path):       # put there since the last dump: not ours
                raise FolderError(f"--out {self.path}: {name} exists and was not written by "
                                  f"tracecomp dump; move it, or dump into another folder")
            self.names.append(name)
            with open(self.manifest, "a", encoding="utf-8") as f:
                f.write(name + "\n")
        return path
