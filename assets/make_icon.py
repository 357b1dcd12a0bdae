#!/usr/bin/env python3
"""Draws assets/icon.png: a white cloud with an upward arrow on an orange rounded square.

Drawn at 4x and scaled down, so the edges are smooth; the shapes are large and the arrow
thick so that the icon still reads at 32x32 in a task bar.
Needs Pillow (Debian: python3-pil). Run: python3 assets/make_icon.py
"""
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
SCALE = 4
S = SIZE * SCALE

ORANGE = (255, 106, 0, 255)
ORANGE_DARK = (214, 78, 0, 255)
WHITE = (255, 255, 255, 255)


def px(v):
    return int(round(v * SCALE))


def main():
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

    out = Path(__file__).resolve().parent / "icon.png"
    img.resize((SIZE, SIZE), Image.LANCZOS).save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
