"""Grades a circle packing: checks what the candidate's pack.py printed, prints
{"score": sum of radii (0 if invalid), "feedback": ...} as its last line.

The task's candidate_command ran pack.py before this grader's files existed on the worker
(as the agents' user when agent_user is set); its output is in $COEVO_CANDIDATE_STDOUT, how
it ended in $COEVO_CANDIDATE_STATUS. best_known.json is grader-private: neither agents nor
their code ever see it."""
import json
import os
import sys

N = 26
TOLERANCE = 1e-9


def verdict(score, feedback):
    print(json.dumps({"score": score, "feedback": feedback}))
    sys.exit(0)


def main():
    if "COEVO_CANDIDATE_STDOUT" not in os.environ:
        sys.exit("grade.py reads pack.py's output: give the task candidate_command: [python3, pack.py]")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "best_known.json")) as f:
        best_known = json.load(f)["sum_of_radii"]
    if os.environ.get("COEVO_CANDIDATE_EXIT") != "0":
        with open(os.environ["COEVO_CANDIDATE_STDERR"], errors="replace") as f:
            verdict(0.0, f"pack.py {os.environ['COEVO_CANDIDATE_STATUS']}: " + f.read()[-300:])
    with open(os.environ["COEVO_CANDIDATE_STDOUT"], errors="replace") as f:
        printed = f.read()
    try:
        circles = json.loads(printed.strip().splitlines()[-1])
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
