"""A tiny PNG decoder (8-bit RGB/RGBA/grey, non-interlaced) so tests can look at pixels
without Pillow: enough to tell a rendered report from a blank page."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(width, height, RGB pixels row by row)."""
    data = path.read_bytes()
    assert data[:8] == SIGNATURE, "not a PNG"
    pos, idat = 8, b""
    width = height = depth = colour = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    assert depth == 8 and interlace == 0, (depth, interlace)
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride if ftype else 0):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        for x in range(width):
            px = line[x * channels : x * channels + channels]
            pixels.append((px[0], px[0], px[0]) if channels <= 2 else (px[0], px[1], px[2]))
        prev = line
    return width, height, pixels


def near(pixel: tuple[int, int, int], colour: str, tol: int = 40) -> bool:
    """Is ``pixel`` within ``tol`` per channel of ``colour`` (``#rrggbb``)?"""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(p - w) <= tol for p, w in zip(pixel, want, strict=True))


def assert_rendered(path: Path, *colours: str, min_ink: float = 0.01) -> None:
    """The PNG is not blank (enough non-background pixels) and shows each colour somewhere."""
    width, height, pixels = read_png(path)
    assert width > 100 and height > 100, (width, height)
    counts = Counter(pixels)
    background, n_background = counts.most_common(1)[0]
    ink = 1 - n_background / len(pixels)
    assert ink >= min_ink, f"{path} looks blank ({ink:.4%} non-background pixels)"
    for colour in colours:
        assert any(near(p, colour) for p in counts), f"{path} shows no {colour} pixel"
