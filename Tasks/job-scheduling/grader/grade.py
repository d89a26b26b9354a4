"""Grades a scheduler on the hidden instances (instances.json, grader-private): checks
every assignment the candidate's schedule.py made and prints
{"score": mean makespan / lower bound, "feedback": ...} as its last line (lower is better).

The task's candidate_command ran schedule.py on the instances (its stdin) before this
grader's files existed on the worker, as the agents' user when agent_user is set; what it
printed is in $COEVO_CANDIDATE_STDOUT, how it ended in $COEVO_CANDIDATE_STATUS."""
import json
import os
import sys


def verdict(score, feedback):
    print(json.dumps({"score": score, "feedback": feedback}))
    sys.exit(0)


def main():
    if "COEVO_CANDIDATE_STDOUT" not in os.environ:
        sys.exit("grade.py reads the candidate's assignments: give the task the candidate_command of Configs/discovery-scheduling.yaml")
    here = os.path.dirname(os.path.abspath(__file__))
    instances = json.load(open(os.path.join(here, "instances.json")))
    worst = 10.0  # what a broken scheduler scores
    if os.environ.get("COEVO_CANDIDATE_EXIT") != "0":
        with open(os.environ["COEVO_CANDIDATE_STDERR"], errors="replace") as f:
            verdict(worst, f"schedule.py {os.environ['COEVO_CANDIDATE_STATUS']}: " + f.read()[-300:])
    with open(os.environ["COEVO_CANDIDATE_STDOUT"], errors="replace") as f:
        printed = f.read()
    try:
        assignments = json.loads(printed.strip().splitlines()[-1])
    except Exception as error:  # noqa: BLE001 - unreadable output is the candidate's fault
        verdict(worst, f"schedule.py printed no assignments: {error}")
    if not isinstance(assignments, list) or len(assignments) != len(instances):
        verdict(worst, f"expected a list of {len(instances)} assignments, one per instance")
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
