#!/usr/bin/env python3
"""torchvision models and an ImageNet-style JPEG folder to try eqbench at
ImageNet scale without ImageNet, labelled by ONNX Runtime so that eqbench's
fp32 top-1 is its agreement with ONNX Runtime under torchvision's protocol.

    pip install torch torchvision onnx onnxruntime pillow scikit-learn scikit-image
    python3 scripts/imagenet_check.py export --out /tmp/zoo resnet18 mobilenet_v2
    python3 scripts/imagenet_check.py folder --out /tmp/photos --test 500 --calib 200 /tmp/zoo/*.onnx
    eqbench run --model /tmp/zoo/resnet18.onnx --dataset /tmp/photos/resnet18

`export` writes <arch>.onnx (TorchScript exporter, --opset, dynamic batch)
and the sidecar <arch>.json (ImageNet mean/std, resize 256 and crop 224, or
342/299 for inception_v3). Weights are torchvision's random initialisation;
batch-norm statistics are re-estimated on photos (train-mode passes with a
cumulative average), and the classifier's bias is set to −W·mean(features)
so that the argmax depends on the image rather than on the constant part of
random features: realistic activations for quantization, informative labels.

`folder` makes photos from the sample images bundled with scikit-learn and
scikit-image (random crops of random aspect, flips, 256–500 pixels on the
shorter side, 8% grayscale and 1% CMYK JPEGs), writes them once under
<out>/images, and for each model a split folder <out>/<model>/{test,calib}
of symbolic links filed under the class ONNX Runtime predicts for the image,
with torchvision's transforms (Resize, CenterCrop, ToTensor, Normalize) on
the PIL image. Nothing here is committed or needed by the tests.
"""
import argparse
import json
import os
import random

import numpy as np

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def sources():
    """The bundled photos, as PIL images (gray ones stay gray)."""
    from PIL import Image
    import sklearn.datasets
    import skimage.data
    images = [Image.fromarray(a) for a in sklearn.datasets.load_sample_images().images]
    for name in ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                 "motorcycle_left", "brick", "grass", "gravel", "camera", "coins", "moon", "clock", "page"]:
        try:
            a = getattr(skimage.data, name)()
        except Exception:
            continue
        if isinstance(a, tuple):
            a = a[0]
        a = np.asarray(a)
        if a.dtype != np.uint8:
            a = (255 * (a - a.min()) / max(1e-9, a.max() - a.min())).astype(np.uint8)
        images.append(Image.fromarray(a))
    return images


def photo(rng, sources):
    """One synthetic photo: a random crop of a source, resized and jittered."""
    from PIL import Image, ImageEnhance
    src = rng.choice(sources)
    w, h = src.size
    area = rng.uniform(0.25, 1.0) * w * h
    aspect = rng.uniform(3 / 4, 4 / 3) * rng.choice([1.0, 1.3, 1 / 1.3])
    cw = int(min(w, max(16, (area * aspect) ** 0.5)))
    ch = int(min(h, max(16, (area / aspect) ** 0.5)))
    x, y = rng.randrange(0, w - cw + 1), rng.randrange(0, h - ch + 1)
    image = src.crop((x, y, x + cw, y + ch))
    short = rng.randrange(256, 501)
    scale = short / min(cw, ch)
    image = image.resize((max(1, round(cw * scale)), max(1, round(ch * scale))), Image.BICUBIC)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    if image.mode == "RGB":
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
    return ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 1.3))


def make_folder(args):
    import onnxruntime as ort
    import torchvision.transforms as T
    from PIL import Image
    rng = random.Random(args.seed)
    srcs = sources()
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    names = []
    for i in range(args.test + args.calib):
        name = f"{i:06d}.jpg" if i % 7 else f"{i:06d}.JPEG"
        path = os.path.join(args.out, "images", name)
        if not os.path.exists(path):
            image = photo(rng, srcs)
            roll = rng.random()
            if roll < 0.01 and image.mode == "RGB":
                image = image.convert("CMYK")
            elif roll < 0.09:
                image = image.convert("L")
            image.save(path, format="JPEG", quality=rng.randrange(80, 96))
        names.append(name)
    for model in args.models:
        arch = os.path.splitext(os.path.basename(model))[0]
        with open(os.path.splitext(model)[0] + ".json") as f:
            sidecar = json.load(f)
        transform = T.Compose([T.Resize(sidecar["resize"]), T.CenterCrop(sidecar["crop"]), T.ToTensor(),
                               T.Normalize(sidecar["mean"], sidecar["std"])])
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        classes = session.get_outputs()[0].shape[-1]
        labels = []
        for start in range(0, len(names), 32):
            batch = [transform(Image.open(os.path.join(args.out, "images", n)).convert("RGB")).numpy()
                     for n in names[start:start + 32]]
            labels += list(session.run(None, {input_name: np.stack(batch)})[0].argmax(1))
        for split, chosen in [("test", range(args.test)), ("calib", range(args.test, len(names)))]:
            root = os.path.join(args.out, arch, split)
            os.makedirs(root, exist_ok=True)
            with open(os.path.join(root, "classes.txt"), "w") as f:
                f.write("".join(f"class{c:04d}\n" for c in range(classes)))
            for c in range(classes):
                os.makedirs(os.path.join(root, f"class{c:04d}"), exist_ok=True)
            for i in chosen:
                link = os.path.join(root, f"class{labels[i]:04d}", names[i])
                if not os.path.lexists(link):
                    os.symlink(os.path.join("..", "..", "..", "images", names[i]), link)
        used = len(set(labels[:args.test]))
        print(f"{arch}: {args.test} test and {args.calib} calib images over {used} distinct ONNX Runtime classes")


def export(args):
    import torch
    import torchvision
    import torchvision.transforms as T
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    srcs = sources()
    torch.manual_seed(args.seed)
    for arch in args.archs:
        resize, crop = (342, 299) if arch == "inception_v3" else (256, 224)
        transform = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(MEAN, STD)])
        photos = torch.stack([transform(photo(rng, srcs).convert("RGB")) for _ in range(args.bn_images)])
        kwargs = {"aux_logits": False, "init_weights": True} if arch in ("inception_v3", "googlenet") else {}
        model = getattr(torchvision.models, arch)(weights=None, **kwargs)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes
        model.train()
        with torch.no_grad():
            for start in range(0, len(photos), 16):
                model(photos[start:start + 16])
        model.eval()
        classifier = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        features = []
        hook = classifier.register_forward_hook(lambda m, i, o: features.append(i[0]))
        with torch.no_grad():
            model(photos)
        hook.remove()
        with torch.no_grad():
            classifier.bias.copy_(-classifier.weight @ torch.cat(features).mean(0))
        path = os.path.join(args.out, arch + ".onnx")
        torch.onnx.export(model, (photos[:1],), path, dynamo=False, opset_version=args.opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        with open(os.path.join(args.out, arch + ".json"), "w") as f:
            json.dump({"mean": MEAN, "std": STD, "resize": resize, "crop": crop}, f)
        print(f"{arch}: {path} ({os.path.getsize(path) / 1e6:.1f} MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    e = commands.add_parser("export", help="export torchvision architectures with realistic statistics")
    e.add_argument("--out", required=True)
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--bn-images", type=int, default=64, help="photos the batch-norm statistics are estimated on")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("archs", nargs="+")
    f = commands.add_parser("folder", help="make photos and label them by ONNX Runtime, per model")
    f.add_argument("--out", required=True)
    f.add_argument("--test", type=int, default=500)
    f.add_argument("--calib", type=int, default=200)
    f.add_argument("--seed", type=int, default=1)
    f.add_argument("models", nargs="+")
    args = parser.parse_args()
    export(args) if args.command == "export" else make_folder(args)


if __name__ == "__main__":
    main()
