#!/usr/bin/env python3
"""SSIM of two 8-bit greyscale PGM (P5) files of the same size, on the luma
plane, over non-overlapping 8x8 windows (the mean of the windows' SSIM;
constants of Wang et al. 2004). Plain Python: no numpy on the bench machine.
Usage: ssim.py REFERENCE.pgm TEST.pgm -> prints the SSIM (1.0 = identical)."""
import sys


def read_pgm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:  # magic, width, height, maxval
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":  # a comment (vips writes one) runs to the end of the line
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P5" and int(fields[3]) == 255, path
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + w * h]


w, h, a = read_pgm(sys.argv[1])
w2, h2, b = read_pgm(sys.argv[2])
assert (w, h) == (w2, h2), "sizes differ"
c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
total, count, n = 0.0, 0, 64
for y0 in range(0, h - 7, 8):
    for x0 in range(0, w - 7, 8):
        sa = sb = saa = sbb = sab = 0
        for y in range(y0, y0 + 8):
            row = y * w
            for i in range(row + x0, row + x0 + 8):
                p, q = a[i], b[i]
                sa += p; sb += q; saa += p * p; sbb += q * q; sab += p * q
        ma, mb = sa / n, sb / n
        va, vb, cov = saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb
        total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        count += 1
print(f"{total / count:.5f}")
