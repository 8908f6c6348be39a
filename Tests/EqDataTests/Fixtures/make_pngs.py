#!/usr/bin/env python3
"""Writes the small PNG files EqDataTests decode, with a PNG encoder written
here from the specification (zlib + CRC only), independent of libpng.

    python3 Tests/EqDataTests/Fixtures/make_pngs.py

Every image is 3 pixels wide and 2 high; PNGDecodingTests states the pixel
values each file must decode to.
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, bit_depth, color_type, rows, extra=b""):
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    gray = [bytes([0, 128, 255]), bytes([10, 20, 30])]
    write("gray8.png", png(3, 2, 8, 0, gray))
    write("gray_alpha8.png", png(3, 2, 8, 4, [bytes([0, 255, 128, 0, 255, 100]),
                                              bytes([10, 50, 20, 50, 30, 50])]))
    rgb = [bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]), bytes([10, 20, 30, 40, 50, 60, 70, 80, 90])]
    write("rgb8.png", png(3, 2, 8, 2, rgb))
    write("rgba8.png", png(3, 2, 8, 6, [bytes([255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255]),
                                        bytes([10, 20, 30, 40, 40, 50, 60, 40, 70, 80, 90, 40])]))
    palette = chunk(b"PLTE", bytes([0, 0, 0, 255, 255, 255, 200, 100, 50]))
    write("palette.png", png(3, 2, 8, 3, [bytes([0, 1, 2]), bytes([2, 1, 0])], extra=palette))
    write("gray16.png", png(3, 2, 16, 0, [struct.pack(">HHH", 0, 32768, 65535),
                                          struct.pack(">HHH", 1000, 2000, 3000)]))
    write("gray1.png", png(3, 2, 1, 0, [bytes([0b10100000]), bytes([0b01000000])]))
    good = png(3, 2, 8, 0, gray)
    write("truncated.png", good[: len(good) - 20])
    corrupt = bytearray(good)
    corrupt[40] ^= 0xFF  # inside IDAT: CRC mismatch
    write("bad_crc.png", bytes(corrupt))
    write("not_a_png.png", b"GIF89a, or anything that is not a PNG\n")
    # A header claiming 10^6 x 10^6 gray pixels over 100 bytes of data.
    header = struct.pack(">IIBBBBB", 1000000, 1000000, 8, 0, 0, 0, 0)
    write("huge_header.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
          + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
