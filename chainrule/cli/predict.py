"""``chainrule predict``: evaluate a saved model on a data set, or classify given inputs.

    chainrule predict runs/fashion/model.npz                      # accuracy and confusion matrix on the test set
    chainrule predict runs/fashion/model.npz shoe.png samples.npy # class (and its name) of each input
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import backend
from ..datasets import CLASS_NAMES, NAMES
from .common import (HelpFormatter, UsageError, data_options, device_option, load_data, one_line, path_name,
                     use_device)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".tif", ".tiff", ".webp")
#: data sets of images, whose values chainrule scales to [0, 1] (a model trained on them expects the same)
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist")


def add_parser(sub):
    """Register ``chainrule predict``."""
    data = data_options(default_dataset=None,
                        dataset_help="data set to evaluate on; default: the one the model was trained on")
    p = sub.add_parser("predict", parents=[data, device_option()], formatter_class=HelpFormatter,
                       help="evaluate a saved model (accuracy, confusion matrix) or classify given inputs",
                       description=__doc__.split("\n", 1)[1])
    p.add_argument("model", nargs="?", metavar="MODEL", help="a model.npz written by chainrule train")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="files to classify: .npy arrays (one sample, or one per row) or images (.png, .jpg, …, "
                        "needs Pillow or matplotlib); default: evaluate on the data set")
    p.add_argument("--model", dest="model_option", metavar="FILE", type=path_name,
                   help="the model, as an option instead")
    p.add_argument("--split", choices=["test", "train"], default="test", help="which part of the data set")
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="invert image brightness: MNIST-style data is light on dark; auto inverts images whose "
                        "border is bright")
    p.set_defaults(func=run)
    return p


def _load(path):
    from ..model_io import ModelFileError, load_model
    try:
        return load_model(path)
    except (OSError, ModelFileError, ValueError) as e:
        raise UsageError(one_line(e)) from None


def run(args):
    """Predict classes with a saved model."""
    model = args.model_option or args.model
    inputs = list(args.inputs)
    if args.model_option and args.model:
        inputs.insert(0, args.model)
    if not model:
        raise UsageError("give the model file: chainrule predict MODEL [INPUT ...]")
    use_device(args.device)
    net, meta = _load(model)
    name = args.dataset or meta.get("dataset")
    names = CLASS_NAMES.get(name) if isinstance(name, str) else None
    if inputs:
        return classify(net, inputs, names, args.invert, name if name in IMAGE_DATASETS else None)
    if not name or name not in NAMES:
        raise UsageError("the model does not say which data set it was trained on; pass --dataset")
    (x_train, t_train), (x_test, t_test) = load_data(name, args.data_dir)
    x, t = (x_test, t_test) if args.split == "test" else (x_train, t_train)
    _check_fits(net, x[0].shape, f"{name} samples", int(np.max(t)) + 1)
    from ..training.evaluation import confusion_matrix, format_confusion_matrix
    predicted = net.predict_classes(x)
    m = confusion_matrix(predicted, t, net.output_size)
    print(f"{name} {args.split}: {len(t)} samples, accuracy {np.trace(m) / len(t):.4f}")
    print(format_confusion_matrix(m, names if names and len(names) == net.output_size else None))
    return 0


def _check_fits(net, sample_shape, what, classes=None):
    if int(np.prod(sample_shape)) != int(np.prod(net.input_shape)):
        raise UsageError(f"the model expects inputs of shape {net.input_shape} ({int(np.prod(net.input_shape))} "
                         f"values) but the {what} have shape {tuple(sample_shape)}")
    if classes is not None and classes > net.output_size:
        raise UsageError(f"the model has {net.output_size} classes but the {what} have labels up to {classes - 1}")


def _read_image(path, size, invert):
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        try:
            with Image.open(path) as img:
                a = _grey(img, Image)
                if size is not None and a.shape != tuple(size):
                    width, height = a.shape[1], a.shape[0]
                    stretch = (width / height) / (size[1] / size[0])   # its width:height against the model's
                    if max(stretch, 1 / stretch) > 1.5:
                        shape = "not square" if size[0] == size[1] else f"not {size[1]}:{size[0]} as the model's inputs"
                        print(f"note: {path} is {width}×{height} pixels, {shape}: it is resized to "
                              f"{size[1]}×{size[0]} and what it shows is stretched (crop it around the digit or "
                              "object first)", file=sys.stderr)
                    a = np.asarray(Image.fromarray(a, "F").resize((size[1], size[0]), Image.LANCZOS),
                                   dtype=np.float32).clip(0.0, 1.0)
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: not a readable image ({one_line(e)})") from None
    else:
        try:
            import matplotlib.image
            a = np.asarray(matplotlib.image.imread(path), dtype=np.float32)
        except (ImportError, OSError, ValueError, SyntaxError) as e:
            raise UsageError(f"{path}: cannot read the image without Pillow (pip install pillow): {one_line(e)}") \
                from None
        if a.ndim == 3:
            a = a[..., :3].mean(axis=2)
        if a.max() > 1:
            a = a / 255.0
        if size is not None and a.shape != tuple(size):
            raise UsageError(f"{path}: the image is {a.shape[1]}×{a.shape[0]} pixels; the model expects "
                             f"{size[1]}×{size[0]} (install Pillow to resize it)")
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if invert == "yes" or (invert == "auto" and border.mean() > 0.5):
        a = 1.0 - a
    return a


def _grey(img, Image):
    """The image as grey levels in [0, 1] (float32): transparent parts as a white page (a digit drawn on a
    transparent background had black on black), 16-bit and 32-bit images scaled by their own range (converting
    them to 8 bits clipped every level above 255 to white)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            top = 65535.0
        elif img.mode == "F":
            top = 1.0 if np.nanmax(a, initial=0.0) <= 1.0 else 255.0
        else:
            top = 255.0 if np.max(a, initial=0) <= 255 else 65535.0
        return np.nan_to_num(a / top, nan=0.0).clip(0.0, 1.0).astype(np.float32)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _image_size(net):
    shape = tuple(net.input_shape)
    if len(shape) == 3:
        return shape[1:]
    side = int(round(np.sqrt(np.prod(shape))))
    return (side, side) if side * side == int(np.prod(shape)) else None


def classify(net, paths, names, invert, image_dataset=None):
    """Print the predicted class of every sample in the given files.

    Refused, never a class "with probability nan": values beyond the model's dtype, and inputs for which the
    model's scores are not finite. A .npy whose values lie far outside [0, 1] for a model trained on images
    (``image_dataset``) is classified with a note on stderr: pixels of 0–255 need dividing by 255."""
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"{path}: no such file")
        if p.suffix.lower() == ".npy":
            try:
                x = np.load(p, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise UsageError(f"{path}: not a readable .npy array ({one_line(e)})") from None
            if x.dtype.kind not in "fiub":
                raise UsageError(f"{path}: holds {x.dtype} values; expected real numbers")
            if x.size == 0:
                raise UsageError(f"{path}: holds no values (shape {x.shape}); expected one sample or one per row")
            per_sample = int(np.prod(net.input_shape))
            if x.size == per_sample:
                x = x.reshape(1, *net.input_shape)
            elif x.ndim >= 2 and int(np.prod(x.shape[1:])) == per_sample:
                x = x.reshape(len(x), *net.input_shape)
            else:
                _check_fits(net, x.shape, f"arrays in {path}")
            if not np.all(np.isfinite(x)):
                raise UsageError(f"{path}: holds NaN or infinite values")
            lo, hi = float(np.min(x)), float(np.max(x))
            beyond = backend.beyond_dtype(x, net.dtype)
            if beyond:
                raise UsageError(f"{path}: holds {beyond}, the model's dtype")
            if image_dataset and (lo < -0.5 or hi > 1.5):
                print(f"note: {path} holds values from {lo:g} to {hi:g}; the model was trained on {image_dataset} "
                      "images scaled to [0, 1]: scale these the same way (pixels of 0–255: divide by 255)",
                      file=sys.stderr)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            size = _image_size(net)
            if size is None:
                values = int(np.prod(net.input_shape))
                raise UsageError(f"{path}: the model takes rows of {values} values, not a square image, so "
                                 "the picture's height and width are unknown; give the samples as a .npy array of "
                                 f"{values} values per row")
            x = _read_image(p, size, invert).reshape(1, *net.input_shape)
        else:
            raise UsageError(f"{path}: expected a .npy array or an image ({', '.join(IMAGE_SUFFIXES)})")
        try:
            probs = net.class_probabilities(x)
        except ValueError as e:      # scores that are not finite: the library names the sample and the layer
            raise UsageError(f"{path}: {one_line(e)} (values from {float(np.min(x)):.3g} to {float(np.max(x)):.3g}); "
                             "scale them as its training data was") from None
        for i, (k, prob) in enumerate(zip(probs.argmax(axis=1), probs.max(axis=1))):
            label = f"{names[k]} (class {k})" if names and k < len(names) else f"class {k}"
            where = f"{path}[{i}]" if len(probs) > 1 else str(path)
            print(f"{where}: {label}, probability {prob:.3f}")
    return 0
