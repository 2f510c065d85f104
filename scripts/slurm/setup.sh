#!/usr/bin/env bash
# Install and configure the single-node SLURM test cluster (root, Debian). Idempotent and quick
# when done:
#   1. packages slurm-wlm slurmctld slurmd slurm-client munge (--no-install-recommends);
#      apt-get update only when the install needs it; while installing, a policy-rc.d that
#      exits 101 (unless there is one) keeps the package scripts from starting the daemons;
#   2. munge: key, /run/munge, log and state directories (no systemd to make them);
#   3. /etc/slurm/slurm.conf: node "localhost" on 127.0.0.1, partition "debug", loopback only;
#      written only when its content changes (and a slurm.conf that is not ours is left alone).
# Starts nothing: start.sh does.
set -euo pipefail
. "$(dirname "$0")/common.sh"
T0=$(slurm_now)
mkdir -p "$SLURM_STATE"

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh must run as root" >&2
  exit 1
fi
if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  echo "setup.sh needs Debian (apt-get)" >&2
  exit 1
fi

# ------------------------------------------------------------------------------------ packages
. "$SLURM_HERE/../lib/tier.sh"
# shellcheck disable=SC2034  # read by lib/tier.sh
TIER_LOG=slurm_log
# slurm-wlm is only the metapackage of the other three
tier_apt_install "$SLURM_STATE/apt.log" slurm-wlm slurmctld slurmd slurm-client munge

# --------------------------------------------------------------------------------------- munge
# munge's postinst makes the user and the key; make the key if it is missing. munged refuses a
# key or key directory that others can read.
id munge >/dev/null
if [ ! -s /etc/munge/munge.key ]; then
  mungekey -c -f -k /etc/munge/munge.key
  slurm_log "made a munge key"
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
# /run/munge would come from systemd's RuntimeDirectory= (start.sh makes it again after a reboot)
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge

# ------------------------------------------------------------------------------------ slurm.conf
# The slurm user comes with the packages (slurm-wlm-basic-plugins).
id slurm >/dev/null
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -o root -g root -m 0755 /var/lib/slurm/slurmd /etc/slurm

# Advertise no more than the machine has: a RealMemory above what slurmd finds puts the node in
# state inval ("Low RealMemory").
CPUS=$(nproc)
MEM_MB=$(awk '/^MemTotal:/ { m = int($2 / 1024) - 1024; print (m < 20000 ? m : 20000) }' /proc/meminfo)
CONF=$(cat <<CONF
$SLURM_CONF_MARK
ClusterName=vocloud
SlurmctldHost=$SLURM_NODE(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
# both are needed to keep every port on 127.0.0.1: NoCtldInAddrAny for slurmctld (binds to the
# SlurmctldHost address), NoInAddrAny for slurmd, srun and slurmstepd (bind to what the host
# name resolves to)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
# no cgroups (containers, no systemd)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SchedulerType=sched/backfill
# start a batch job when it is submitted (the default waits up to 3 s)
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# memory is consumable: a job without --mem would take all RealMemory and block the others
DefMemPerCPU=1000
ReturnToService=2
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=30
KillWait=5
Waittime=0
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$SLURM_NODE NodeAddr=127.0.0.1 NodeHostname=$SLURM_NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$SLURM_PARTITION Nodes=$SLURM_NODE Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ -f "$SLURM_CONF" ] && [ "$(head -1 "$SLURM_CONF")" != "$SLURM_CONF_MARK" ]; then
  echo "$SLURM_CONF exists and was not written by this script: leaving it alone (move it away to use this tier)" >&2
  exit 1
fi
if [ ! -f "$SLURM_CONF" ] || [ "$(cat "$SLURM_CONF")" != "$CONF" ]; then
  printf '%s\n' "$CONF" >"$SLURM_CONF"
  chmod 644 "$SLURM_CONF"
  slurm_log "wrote $SLURM_CONF (node $SLURM_NODE: $CPUS CPUs, $MEM_MB MB)"
  if slurm_ctld_up; then
    scontrol reconfigure && slurm_log "slurmctld runs: told it to reread $SLURM_CONF"
  fi
fi
slurm_log "setup done in $(slurm_since "$T0") s ($(dpkg-query -W -f='${Package} ${Version}, ' slurmctld slurmd munge | sed 's/, $//'))"
