#!/usr/bin/env bash
# One worker of coevo.sbatch or coevo-workers.sbatch: makes its own CURVE key pair,
# puts the public key where the coordinator reads new keys without a restart, and
# becomes the worker (so Slurm's signals reach it: SIGTERM drains).
#   worker.sh ENDPOINT NAME      (COEVO_BIN and KEYS from the batch script)
# More worker options (e.g. --allow-endpoint for a model server) go in COEVO_WORKER_ARGS.
set -euo pipefail
ENDPOINT=$1 NAME=$2
rm -f "$KEYS/nodes/$NAME.key" "$KEYS/nodes/$NAME.pub"
"$COEVO_BIN/coevo" keys generate "$NAME" --dir "$KEYS/nodes" >/dev/null
cp "$KEYS/nodes/$NAME.pub" "$KEYS/workers/"
# shellcheck disable=SC2086  # COEVO_WORKER_ARGS is a list of words
exec "$COEVO_BIN/coevo-worker" --connect "$ENDPOINT" --id "$NAME" --slots "${COEVO_SLOTS:-64}" \
    --drain-timeout-ms "${COEVO_DRAIN_MS:-10000}" \
    --coordinator-key "$KEYS/coordinator.pub" --key "$KEYS/nodes/$NAME.key" ${COEVO_WORKER_ARGS:-}
