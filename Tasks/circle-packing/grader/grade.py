"""Grades a circle packing: runs the candidate's pack.py, checks the packing, prints
{"score": sum of radii (0 if invalid), "feedback": ...} as its last line.

Runs in the grader's own directory; the candidate's checkout is $COEVO_CANDIDATE.
best_known.json is grader-private: agents never see it."""
import json
import os
import subprocess
import sys

N = 26
TOLERANCE = 1e-9


def verdict(score, feedback):
    print(json.dumps({"score": score, "feedback": feedback}))
    sys.exit(0)


def main():
    candidate = os.environ["COEVO_CANDIDATE"]
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "best_known.json")) as f:
        best_known = json.load(f)["sum_of_radii"]
    try:
        run = subprocess.run([sys.executable, "pack.py"], cwd=candidate, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        verdict(0.0, "pack.py ran longer than 10 s")
    if run.returncode != 0:
        verdict(0.0, "pack.py failed: " + run.stderr[-300:])
    try:
        circles = json.loads(run.stdout.strip().splitlines()[-1])
        circles = [(float(x), float(y), float(r)) for x, y, r in circles]
    except Exception as error:  # noqa: BLE001 - any unreadable output is the candidate's fault
        verdict(0.0, f"pack.py printed no list of [x, y, r]: {error}")
    if len(circles) != N:
        verdict(0.0, f"expected {N} circles, got {len(circles)}")
    for i, (x, y, r) in enumerate(circles):
        if r <= 0:
            verdict(0.0, f"circle {i} has radius {r}")
        if x - r < -TOLERANCE or x + r > 1 + TOLERANCE or y - r < -TOLERANCE or y + r > 1 + TOLERANCE:
            verdict(0.0, f"circle {i} ({x:.4f}, {y:.4f}, r={r:.4f}) leaves the square")
    for i in range(N):
        xi, yi, ri = circles[i]
        for j in range(i + 1, N):
            xj, yj, rj = circles[j]
            gap = ((xi - xj) ** 2 + (yi - yj) ** 2) ** 0.5 - ri - rj
            if gap < -TOLERANCE:
                verdict(0.0, f"circles {i} and {j} overlap by {-gap:.6f}")
    total = sum(r for _, _, r in circles)
    verdict(total, f"valid; sum of radii {total:.6f} ({100 * total / best_known:.1f}% of the best known {best_known})")


main()
