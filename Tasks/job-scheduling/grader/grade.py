"""Grades a scheduler: imports the candidate's schedule.py in a child process, runs it on the
hidden instances (instances.json, grader-private), checks every assignment and prints
{"score": mean makespan / lower bound, "feedback": ...} as its last line (lower is better).

Runs in the grader's own directory; the candidate's checkout is $COEVO_CANDIDATE."""
import json
import os
import subprocess
import sys

RUNNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from schedule import schedule
instances = json.load(sys.stdin)
print(json.dumps([schedule(list(i["durations"]), i["machines"]) for i in instances]))
"""


def verdict(score, feedback):
    print(json.dumps({"score": score, "feedback": feedback}))
    sys.exit(0)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    instances = json.load(open(os.path.join(here, "instances.json")))
    worst = 10.0  # what a broken scheduler scores
    try:
        run = subprocess.run([sys.executable, "-c", RUNNER, os.environ["COEVO_CANDIDATE"]], input=json.dumps(instances),
                             capture_output=True, text=True, timeout=len(instances))
    except subprocess.TimeoutExpired:
        verdict(worst, f"schedule.py took longer than {len(instances)} s on {len(instances)} instances")
    if run.returncode != 0:
        verdict(worst, "schedule.py failed: " + run.stderr[-300:])
    try:
        assignments = json.loads(run.stdout.strip().splitlines()[-1])
    except Exception as error:  # noqa: BLE001 - unreadable output is the candidate's fault
        verdict(worst, f"schedule.py printed no assignments: {error}")
    ratios = []
    for number, (instance, assignment) in enumerate(zip(instances, assignments)):
        durations, machines = instance["durations"], instance["machines"]
        if len(assignment) != len(durations) or any(not isinstance(m, int) or not 0 <= m < machines for m in assignment):
            verdict(worst, f"instance {number}: the assignment must give every job a machine in 0..{machines - 1}")
        loads = [0] * machines
        for job, machine in enumerate(assignment):
            loads[machine] += durations[job]
        bound = max(max(durations), sum(durations) / machines)
        ratios.append(max(loads) / bound)
    score = sum(ratios) / len(ratios)
    verdict(score, f"mean makespan / lower bound {score:.4f} over {len(ratios)} hidden instances (worst {max(ratios):.3f})")


main()
