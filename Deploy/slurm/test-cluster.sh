#!/usr/bin/env bash
# A real Slurm cluster on one machine, for trying the sbatch scripts and for the tests:
# munged, slurmctld and one slurmd per node name (n1..nN, all on this host), every file
# under DIR, nothing in /etc touched. Needs root (slurmd runs jobs as their user) and
# Debian's slurmctld, slurmd, slurm-client and munge (`make slurm` installs them).
#   Deploy/slurm/test-cluster.sh start DIR [NODES] [CPUS_PER_NODE]   # prints: export SLURM_CONF=...
#   Deploy/slurm/test-cluster.sh stop DIR
set -euo pipefail
ACTION=${1:?usage: test-cluster.sh start|stop DIR [NODES] [CPUS_PER_NODE]}
DIR=$(mkdir -p "${2:?DIR missing}" && cd "$2" && pwd)
NODES=${3:-3}
CPUS=${4:-4}

stop() {
    # Jobs first, so no slurmstepd (and no worker under it) outlives the cluster.
    if [ -f "$DIR/slurm.conf" ] && [ -f "$DIR/slurmctld.pid" ]; then
        SLURM_CONF="$DIR/slurm.conf" scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 1 20); do
            [ -z "$(SLURM_CONF="$DIR/slurm.conf" squeue -h 2>/dev/null)" ] && break
            sleep 0.5
        done
    fi
    for pidfile in "$DIR"/slurmd-*.pid "$DIR"/slurmctld.pid "$DIR"/munged.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    # Daemons that outlive the TERM above (slurmd waits for its jobs' steps) are not left.
    sleep 1
    for pidfile in "$DIR"/slurmd-*.pid "$DIR"/slurmctld.pid "$DIR"/munged.pid; do
        [ -f "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    # Any daemon whose pid file was gone.
    pkill -KILL -f -- "-f $DIR/slurm.conf" 2>/dev/null || true
    pkill -KILL -f -- "--socket=$DIR/munge/" 2>/dev/null || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [ "$ACTION" = stop ]; then stop; exit 0; fi
[ "$ACTION" = start ] || { echo "unknown action $ACTION: start or stop" >&2; exit 2; }
for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || { echo "$tool not found: run 'make slurm' (Debian's slurmctld slurmd slurm-client munge)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "slurmd runs jobs as their owner and needs root" >&2; exit 2; }
stop

# munge: its own key and socket, so a host munged (if any) is neither needed nor disturbed.
mkdir -p "$DIR/munge" && chmod 700 "$DIR/munge"
[ -f "$DIR/munge/munge.key" ] || { dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$DIR/munge/munge.key"; }
# The daemons inherit nothing from whoever started this script: a caller that waits for
# its output to end, or (as Foundation's Process does) for a descriptor it passed down
# to close, would wait for as long as the daemons live.
for fd in /proc/$$/fd/*; do
    n=${fd##*/}
    [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null || true
done
exec 3>>"$DIR/daemons.out"
munged --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/munged.seed" </dev/null >&3 2>&3

CTLD_PORT=$(free_port)
FIRST_NODE_PORT=$(free_port)
HOST=$(hostname -s)
mkdir -p "$DIR/state"
cat > "$DIR/slurm.conf" <<EOF
ClusterName=coevo-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool-%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd-%n.log
# No cgroups in a container: process groups track job steps.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# The nodes say they have CPUS each, whatever this host has: they share it.
SlurmdParameters=config_overrides
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SlurmdTimeout=30
KillWait=5
NodeName=n[1-$NODES] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$FIRST_NODE_PORT-$((FIRST_NODE_PORT + NODES - 1)) CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$DIR/slurm.conf"
slurmctld -f "$SLURM_CONF" </dev/null >&3 2>&3
for n in $(seq 1 "$NODES"); do slurmd -f "$SLURM_CONF" -N "n$n" </dev/null >&3 2>&3; done
exec 3>&-

# Ready when every node is idle.
for _ in $(seq 1 60); do
    idle=$(sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | wc -l)
    [ "$idle" -ge "$NODES" ] && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
    sleep 0.5
done
echo "the Slurm nodes did not come up; see $DIR/slurmctld.log and $DIR/slurmd-n1.log" >&2
sinfo -N >&2 || true
exit 1
