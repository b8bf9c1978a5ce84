"""DatasetFolder and ImageFolder: a dataset from a tree of files, one folder per class
(root/<class>/**/<file>), with torchvision.datasets.folder's API (find_classes,
make_dataset, has_file_allowed_extension, is_image_file, IMG_EXTENSIONS, pil_loader,
default_loader).

Classes are the sorted names of root's sub-folders; samples are every accepted file under a
class folder (recursively, links followed), sorted by path, as torchvision lists them, so a
tree gives the same indices and targets here as there.
"""
import os

from PIL import Image

from .vision import VisionDataset, expand_root, transformed

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename, extensions):
    """Whether filename ends (case-insensitively) with one of extensions (lowercase)."""
    return filename.lower().endswith(extensions if isinstance(extensions, str)
                                     else tuple(extensions))


def is_image_file(filename):
    """Whether filename has one of IMG_EXTENSIONS."""
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory):
    """(sorted class folder names, {name: index}) of the sub-folders of directory."""
    if not os.path.isdir(directory):
        # torchvision lets os.scandir raise; say what the folder was for
        raise FileNotFoundError(f"dataset folder {os.fspath(directory)!r} does not exist (a "
                                f"DatasetFolder/ImageFolder root holds one folder per class)")
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {cls_name: i for i, cls_name in enumerate(classes)}


def make_dataset(directory, class_to_idx=None, extensions=None, is_valid_file=None,
                 allow_empty=False):
    """[(path, class index)] of the accepted files under directory/<class> for each class of
    class_to_idx; exactly one of extensions and is_valid_file says which files are accepted.
    A class with no file raises FileNotFoundError unless allow_empty."""
    directory = expand_root(os.fspath(directory))
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any "
                         "samples.")
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the "
                         "same time")
    if extensions is not None:
        def is_valid_file(path):
            return has_file_allowed_extension(path, extensions)

    instances = []
    available_classes = set()
    for target_class in sorted(class_to_idx):
        class_index = class_to_idx[target_class]
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_index))
                    available_classes.add(target_class)

    empty_classes = set(class_to_idx) - available_classes
    if empty_classes and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty_classes))}. "
        if extensions is not None:
            exts = extensions if isinstance(extensions, str) else ", ".join(extensions)
            msg += f"Supported extensions are: {exts}"
        raise FileNotFoundError(msg)
    return instances


class DatasetFolder(VisionDataset):
    """Samples are the files under root/<class>/ read by `loader(path)`; the target is the
    class index. Attributes: classes, class_to_idx, samples [(path, index)], targets.
    Override find_classes (or make_dataset) for another layout."""

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx=class_to_idx,
                                    extensions=extensions, is_valid_file=is_valid_file,
                                    allow_empty=allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None,
                     allow_empty=False):
        """make_dataset for this class; class_to_idx must be given, so that an overridden
        find_classes is the one that decides the classes."""
        if class_to_idx is None:
            raise ValueError("The class_to_idx parameter cannot be None.")
        return make_dataset(directory, class_to_idx, extensions=extensions,
                            is_valid_file=is_valid_file, allow_empty=allow_empty)

    def find_classes(self, directory):
        """(classes, class_to_idx) of directory: its sub-folders, sorted."""
        return find_classes(directory)

    def __getitem__(self, index):
        path, target = self.samples[index]
        sample = self.loader(path)
        return transformed(self, sample, target)

    def __len__(self):
        return len(self.samples)


def pil_loader(path):
    """The image at path as an RGB PIL image (read through an open file, so that the file
    is closed at once and no ResourceWarning is left)."""
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


def default_loader(path):
    """pil_loader: torchvision's other backend, accimage, is not provided."""
    return pil_loader(path)


class ImageFolder(DatasetFolder):
    """DatasetFolder of images: files with one of IMG_EXTENSIONS (unless is_valid_file is
    given) read as RGB PIL images. `imgs` is `samples`, torchvision's older name."""

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader,
                 is_valid_file=None, allow_empty=False):
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform=transform, target_transform=target_transform,
                         is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.imgs = self.samples
