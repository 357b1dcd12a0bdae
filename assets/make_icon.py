#!/usr/bin/env python3
"""Draws assets/icon.png: a white cloud with an upward arrow on an orange rounded square.

Drawn at 4x and scaled down, so the edges are smooth; the shapes are large and the arrow
thick so that the icon still reads at 32x32 in a task bar.
Also writes the desktop icon in the hicolor sizes the Linux packages install
(assets/linux/icons/hicolor/NxN/apps/oss-uploader.png, 16 to 512): the 256 one is icon.png
itself, the others are drawn at 2048 and scaled down, so each size is as sharp as it can be.
Needs Pillow (Debian: python3-pil). Run: python3 assets/make_icon.py
"""
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
SCALE = 4

ORANGE = (255, 106, 0, 255)
ORANGE_DARK = (214, 78, 0, 255)
WHITE = (255, 255, 255, 255)


# The sizes of the hicolor icon theme that desktops look in for an application's icon.
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
BIG_SCALE = 8


def draw(scale=SCALE):
    """The icon at SIZE * scale pixels square, before scaling down."""
    S = SIZE * scale

    def px(v):
        return int(round(v * scale))

    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    # Background: a rounded square with a slightly darker lower half for depth.
    d.rounded_rectangle([px(8), px(8), px(248), px(248)], radius=px(52), fill=ORANGE)
    shade = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    sd = ImageDraw.Draw(shade)
    sd.rounded_rectangle([px(8), px(8), px(248), px(248)], radius=px(52), fill=ORANGE_DARK)
    mask = Image.new("L", (S, S), 0)
    ImageDraw.Draw(mask).rectangle([0, px(150), S, S], fill=255)
    img.paste(shade, (0, 0), mask)

    # Cloud: three circles over a rounded base.
    d = ImageDraw.Draw(img)
    d.ellipse([px(40), px(104), px(118), px(182)], fill=WHITE)
    d.ellipse([px(78), px(60), px(178), px(160)], fill=WHITE)
    d.ellipse([px(140), px(96), px(216), px(172)], fill=WHITE)
    d.rounded_rectangle([px(40), px(130), px(216), px(190)], radius=px(30), fill=WHITE)

    # Upward arrow in the cloud, in the background colour so it reads as a cut-out.
    d.polygon(
        [(px(128), px(84)), (px(168), px(128)), (px(143), px(128)),
         (px(143), px(172)), (px(113), px(172)), (px(113), px(128)), (px(88), px(128))],
        fill=ORANGE,
    )

    return img


def main():
    here = Path(__file__).resolve().parent
    out = here / "icon.png"
    draw().resize((SIZE, SIZE), Image.LANCZOS).save(out, optimize=True)
    print(out)

    big = draw(BIG_SCALE)
    for n in HICOLOR_SIZES:
        dest = here / "linux" / "icons" / "hicolor" / f"{n}x{n}" / "apps" / "oss-uploader.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if n == SIZE:
            dest.write_bytes(out.read_bytes())
        else:
            big.resize((n, n), Image.LANCZOS).save(dest, optimize=True)
        print(dest)


if __name__ == "__main__":
    main()
