#!/usr/bin/env python3
"""Writes the JPEG files and the resize/crop cases EqDataTests check, with
Pillow, the library torchvision's ImageNet loader and transforms run on PIL
images (pip install pillow).

    python3 Tests/EqDataTests/Fixtures/make_jpegs.py

jpeg_cases.json holds, per JPEG, the RGB or gray pixels Pillow decodes
(`convert("RGB")` for CMYK). resize_cases.json holds, per case, a source
image's pixels and the pixels of torchvision's Resize(N) + CenterCrop(M) on
it: Pillow's antialiased BILINEAR resize of the shorter side to N (the longer
to int(N * long / short)) and the crop box at round((size - M) / 2).
"""
import json
import os
import random

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def gradient(width, height, seed):
    rng = random.Random(seed)
    return [(min(255, 10 * x + rng.randrange(40)), min(255, 20 * y + rng.randrange(40)), (x * y * 7) % 256)
            for y in range(height) for x in range(width)]


def jpeg_cases():
    cases = {}
    rgb = Image.new("RGB", (9, 7))
    rgb.putdata(gradient(9, 7, 1))
    rgb.save(path("rgb.jpg"), quality=90)
    gray = rgb.convert("L")
    gray.save(path("gray.JPEG"), quality=90)
    cmyk = rgb.convert("CMYK")
    cmyk.save(path("cmyk.jpg"), quality=95)  # Pillow writes Adobe (inverted) CMYK
    # A JPEG under a .png name: eqbench tells formats apart by content.
    rgb.save(path("jpeg_named.png"), format="JPEG", quality=90)
    with open(path("rgb.jpg"), "rb") as f:
        data = f.read()
    with open(path("truncated.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])
    for name in ["rgb.jpg", "gray.JPEG", "cmyk.jpg", "jpeg_named.png"]:
        image = Image.open(path(name))
        image = image.convert("L" if image.mode == "L" else "RGB")
        channels = 1 if image.mode == "L" else 3
        cases[name] = {"width": image.width, "height": image.height, "channels": channels,
                       "pixels": list(image.tobytes())}
    with open(path("jpeg_cases.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"))


def resize_crop(image, size, crop):
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    resized = image.resize((new_w, new_h), Image.BILINEAR)
    left, top = int(round((new_w - crop) / 2.0)), int(round((new_h - crop) / 2.0))
    return resized.crop((left, top, left + crop, top + crop))


def resize_cases():
    cases = []
    # (width, height, resize, crop): downscales by 1.5 to 6, an upscale,
    # offsets that round half to even, and a square image.
    for width, height, size, crop, seed in [(37, 23, 16, 16, 2), (23, 37, 17, 16, 3), (60, 41, 10, 8, 4),
                                            (12, 9, 19, 17, 5), (31, 48, 21, 18, 6), (20, 20, 14, 12, 7)]:
        image = Image.new("RGB", (width, height))
        image.putdata(gradient(width, height, seed))
        out = resize_crop(image, size, crop)
        cases.append({"width": width, "height": height, "resize": size, "crop": crop,
                      "source": list(image.tobytes()), "expected": list(out.tobytes())})
    with open(path("resize_cases.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"))


if __name__ == "__main__":
    jpeg_cases()
    resize_cases()
