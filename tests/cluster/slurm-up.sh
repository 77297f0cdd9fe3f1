#!/usr/bin/env bash
# Bring up a single-node SLURM cluster (munge + slurmctld + slurmd) for the cluster tests.
# Debian 12 as root; installs the packages when missing. No accounting daemon: the profile
# polls job state with `squeue`. Every daemon started here has its PID in $STATE/pids, and
# slurm-down.sh stops exactly those.
#   STATE=/tmp/attnlab-slurm  PARTITION=debug  NODE_CPUS=<nproc>
set -euo pipefail
STATE=${STATE:-/tmp/attnlab-slurm}
PARTITION=${PARTITION:-debug}
# The jobstep executor strips SLURM_CONF before its inner srun: the config must sit at the
# compiled-in default path.
CONF=/etc/slurm/slurm.conf
MARK="# written by attnlab tests/cluster/slurm-up.sh"
HOST=$(hostname -s)
PIDS=$STATE/pids

say() { printf '[slurm-up] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
poll() {  # poll SECONDS command...: retry every 0.2 s until it succeeds
  local until=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.2
  done
}
running() {  # running NAME: the recorded PID is alive and is that program
  local f=$PIDS/$1.pid
  [ -s "$f" ] && [ "$(cat "/proc/$(cat "$f")/comm" 2>/dev/null)" = "$1" ]
}

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$STATE"/ctld "$STATE"/spool "$STATE"/log "$PIDS"

missing=""
for p in munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $missing >"$STATE/log/apt.log" 2>&1 || {
    apt-get update >>"$STATE/log/apt.log" 2>&1
    apt-get install -y --no-install-recommends $missing >>"$STATE/log/apt.log" 2>&1 ||
      die "apt-get install failed: see $STATE/log/apt.log"
  }
fi

if ! (munge -n | unmunge) >/dev/null 2>&1; then
  if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    head -c 1024 /dev/urandom >/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged --force
  poll 10 sh -c 'munge -n | unmunge' || die "munged did not start"
  cp /run/munge/munged.pid "$PIDS/munged.pid"
fi

CPUS=${NODE_CPUS:-$(nproc --all)}
MEM=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
[ ! -e "$CONF" ] || grep -qF "$MARK" "$CONF" || die "$CONF exists and is not ours: move it away first"
mkdir -p /etc/slurm
cat >"$CONF" <<CONF
$MARK
ClusterName=attnlab
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF

running slurmctld || { /usr/sbin/slurmctld; poll 30 scontrol ping || die "slurmctld did not start: see $STATE/log"; }
running slurmd || /usr/sbin/slurmd
usable() { sinfo -h -n "$HOST" -o %t | grep -Eqx 'idle|mix|mixed|alloc|allocated'; }
if ! poll 30 usable; then
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  poll 15 usable || die "node not usable: $(sinfo -h -N -o '%N %t %E')"
fi
say "up: $(sinfo -h -o '%P %a %D nodes %t %c cpus')"
