"""Rendering of gridworld boards: ASCII text and RGB images.

Both renderers take the board as symbol codes ``(H, W)`` uint8 plus the world's ``symbols`` string (code =
index in it), so what is drawn is exactly the legend: the ASCII render writes ``symbols[code]`` and the
RGB render paints each cell a fixed colour per symbol.
"""

from __future__ import annotations

import zlib

import numpy as np

#: Fixed colours of the common symbols; any other symbol gets a colour derived from its character.
PALETTE: dict[str, tuple[int, int, int]] = {
    " ": (219, 219, 219),
    "#": (61, 61, 61),
    "A": (0, 90, 230),
    "G": (0, 200, 60),
    "W": (255, 200, 0),
    "L": (230, 60, 0),
    "S": (240, 100, 180),
    "P": (160, 0, 200),
    "I": (230, 40, 40),
    "B": (120, 40, 200),
    "X": (150, 100, 40),
    "O": (120, 120, 255),
    "T": (0, 150, 0),
    "t": (190, 170, 90),
}


def symbol_colour(symbol: str) -> tuple[int, int, int]:
    """The RGB colour of one symbol: :data:`PALETTE`, else a stable hash of the character."""
    if symbol in PALETTE:
        return PALETTE[symbol]
    h = zlib.crc32(symbol.encode("utf-8"))
    return (64 + h % 160, 64 + (h >> 8) % 160, 64 + (h >> 16) % 160)


def ascii_board(codes: np.ndarray, symbols: str) -> str:
    """The board as text, one line per row: ``symbols[codes[r, c]]``. ``codes``: ``(H, W)`` ints."""
    table = np.array(list(symbols))
    return "\n".join("".join(row) for row in table[codes])


def rgb_board(codes: np.ndarray, symbols: str, cell: int) -> np.ndarray:
    """The board as an image ``(H * cell, W * cell, 3)`` uint8, one flat colour per cell."""
    palette = np.array([symbol_colour(s) for s in symbols], dtype=np.uint8)  # (n_symbols, 3)
    img = palette[codes]  # (H, W, 3)
    return np.repeat(np.repeat(img, cell, axis=0), cell, axis=1)
