"""Packs 26 circles in the unit square; the grader scores the sum of their radii.

The seed places the centres on a loose grid and gives each circle, in order, the largest radius
that keeps it inside the square and clear of the circles before it. Any approach is fine
as long as `python3 pack.py` prints the circles."""
import json

# Centres (x, y) of the 26 circles.
# EVOLVE-BLOCK-START
CENTRES = [
    (0.1400, 0.1400),
    (0.1400, 0.3000),
    (0.1400, 0.4600),
    (0.1400, 0.6200),
    (0.1400, 0.7800),
    (0.3000, 0.1400),
    (0.3000, 0.3000),
    (0.3000, 0.4600),
    (0.3000, 0.6200),
    (0.3000, 0.7800),
    (0.4600, 0.1400),
    (0.4600, 0.3000),
    (0.4600, 0.4600),
    (0.4600, 0.6200),
    (0.4600, 0.7800),
    (0.6200, 0.1400),
    (0.6200, 0.3000),
    (0.6200, 0.4600),
    (0.6200, 0.6200),
    (0.6200, 0.7800),
    (0.7800, 0.1400),
    (0.7800, 0.3000),
    (0.7800, 0.4600),
    (0.7800, 0.6200),
    (0.7800, 0.7800),
    (0.9000, 0.9000),
]
# EVOLVE-BLOCK-END


def pack():
    circles = []
    for x, y in CENTRES:
        x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
        r = min(x, y, 1 - x, 1 - y)
        for cx, cy, cr in circles:
            r = min(r, ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 - cr)
        circles.append([x, y, max(r, 0.0)])
    return circles


if __name__ == "__main__":
    print(json.dumps(pack()))
