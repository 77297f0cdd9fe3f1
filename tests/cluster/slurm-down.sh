#!/usr/bin/env bash
# Stop exactly the daemons slurm-up.sh started, by their recorded PIDs, and remove its config.
set -uo pipefail
STATE=${STATE:-/tmp/attnlab-slurm}
PIDS=$STATE/pids
CONF=/etc/slurm/slurm.conf
for name in slurmd slurmctld munged; do
  f=$PIDS/$name.pid
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || break; sleep 0.2; done
    [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    echo "[slurm-down] stopped $name ($pid)" >&2
  fi
  rm -f "$f"
done
[ -e "$CONF" ] && grep -qF "# written by attnlab tests/cluster/slurm-up.sh" "$CONF" && rm -f "$CONF"
rm -rf "$STATE"
exit 0
