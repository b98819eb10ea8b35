"""Demo photos: small real PNG pictures drawn in code (no image library, nothing downloaded).

The demo history attaches them to events and 晒单 orders, the fake WeChat API answers media/get
with them, and the simulator's "send a photo" points its PicUrl at them, so every photo the admin
page or the showcase shows in the demo is a real image served by this service.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

WIDTH, HEIGHT = 240, 180

# name → (sky, ground, object colour, shape): a few recognisable street scenes.
SCENES = {
    "garbage": ((186, 210, 230), (150, 150, 140), (46, 125, 50), "bins"),
    "streetlight": ((40, 52, 90), (70, 70, 78), (255, 214, 90), "lamp"),
    "pothole": ((190, 215, 235), (120, 120, 120), (60, 50, 45), "hole"),
    "stairway": ((225, 220, 205), (170, 160, 140), (120, 90, 60), "stairs"),
    "tree": ((200, 225, 240), (110, 150, 80), (60, 120, 50), "tree"),
    "parking": ((205, 220, 235), (95, 95, 100), (200, 40, 40), "car"),
    "service": ((250, 240, 220), (210, 190, 160), (7, 193, 96), "tools"),
}


def _inside(shape: str, x: int, y: int) -> bool:
    """Is pixel (x, y) part of the scene's object (a crude drawing, but recognisably one)?"""
    ground = HEIGHT * 2 // 3
    if shape == "bins":
        return any(30 + i * 70 <= x <= 80 + i * 70 and ground - 60 <= y <= ground + 10 for i in range(3))
    if shape == "lamp":
        post = 115 <= x <= 123 and 40 <= y <= ground + 20
        head = (x - 119) ** 2 + (y - 40) ** 2 <= 18 ** 2
        return post or head
    if shape == "hole":
        return ((x - 120) / 70) ** 2 + ((y - ground - 25) / 18) ** 2 <= 1
    if shape == "stairs":
        step = (x - 20) // 40
        return 0 <= step < 5 and y >= HEIGHT - 30 - step * 25 and x < 220
    if shape == "tree":
        trunk = 112 <= x <= 128 and 80 <= y <= ground + 15
        crown = (x - 120) ** 2 + (y - 65) ** 2 <= 45 ** 2
        return trunk or crown
    if shape == "car":
        body = 50 <= x <= 190 and ground - 20 <= y <= ground + 20
        roof = 80 <= x <= 160 and ground - 45 <= y <= ground - 20
        wheel = any((x - cx) ** 2 + (y - ground - 22) ** 2 <= 12 ** 2 for cx in (80, 160))
        return body or roof or wheel
    handle = 60 <= x <= 180 and 95 <= y <= 110
    blade = 150 <= x <= 200 and 70 <= y <= 135
    return handle or blade


def _pixel(scene: tuple, x: int, y: int) -> tuple[int, int, int]:
    sky, ground, thing, shape = scene
    if _inside(shape, x, y):
        shade = 1.0 - 0.25 * (y / HEIGHT)
        return tuple(int(c * shade) for c in thing)
    base = sky if y < HEIGHT * 2 // 3 else ground
    fade = 0.85 + 0.15 * (1 - y / HEIGHT)
    return tuple(min(255, int(c * fade)) for c in base)


@cache
def png(name: str) -> bytes:
    """The scene `name` (one of SCENES; anything else draws the service scene) as PNG bytes."""
    scene = SCENES.get(name, SCENES["service"])
    raw = bytearray()
    for y in range(HEIGHT):
        raw.append(0)  # filter type 0 for each scanline
        for x in range(WIDTH):
            raw.extend(_pixel(scene, x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + \
        chunk(b"IEND", b"")


MEDIA_PREFIX = "demo-photo-"  # a media id the fake WeChat API answers with the named scene


def media_scene(media_id: str) -> str | None:
    return media_id[len(MEDIA_PREFIX):] if media_id.startswith(MEDIA_PREFIX) else None
