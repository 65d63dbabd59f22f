#!/usr/bin/env bash
# A throw-away one-node SLURM cluster with accounting, every file of it under one folder.
#
#   source scripts/ci/slurm_cluster.sh
#   slurm_install || exit 0      # Debian's slurm-wlm, munge, slurmdbd, mariadb-server
#   slurm_start "$dir"           # munged, mariadbd, slurmdbd, slurmctld, slurmd; exports SLURM_CONF
#   ...                          # sbatch / squeue / sacct / fleetsim -m hydra/launcher=slurm
#   slurm_stop                   # stops exactly the daemons slurm_start started
#
# Needs root (the daemons run as root, munge and mysql). Ports are not SLURM's defaults, so a
# site's own daemons are left alone: SLURM_CI_PORT (default 16817) and the three after it.
# Facts behind the settings: ../shared/SLURM.md (no systemd, no usable cgroups in the sandbox).

SLURM_CI_PIDS=()

slurm_install() {
    # Install the packages if a daemon is missing; return 1 (with a message) when impossible.
    local packages=(slurm-wlm munge slurmdbd mariadb-server)
    if command -v slurmctld slurmd slurmdbd munged mariadbd >/dev/null 2>&1 \
        && [ "$(command -v slurmctld slurmd slurmdbd munged mariadbd | wc -l)" = 5 ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "slurm: cannot install ${packages[*]} (needs root and apt-get)" >&2
        return 1
    fi
    echo "slurm: installing ${packages[*]} (Debian packages)"
    apt-get update -qq </dev/null >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" </dev/null >/dev/null \
        || { echo "slurm: apt-get could not install ${packages[*]}" >&2; return 1; }
}

_slurm_wait() {
    # _slurm_wait SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds.
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "slurm: $what did not come up within ${seconds}s" >&2
            return 1
        fi
        sleep 0.2
    done
}

_slurm_spawn() {
    # _slurm_spawn NAME COMMAND...: start a daemon in the foreground mode, in the background.
    local name=$1
    shift
    "$@" >"$SLURM_CI_DIR/log/$name.out" 2>&1 &
    SLURM_CI_PIDS+=($!)
}

slurm_start() {
    local dir=$1 host cpus mem_mb port=${SLURM_CI_PORT:-16817}
    SLURM_CI_DIR=$dir
    host=$(hostname -s)
    cpus=$(nproc)
    mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10))
    mkdir -p "$dir"/{etc,log,run,state,spool,munge,mysql}
    chmod 755 "$dir" # the parent folders must be open to users munge and mysql too
    chown munge:munge "$dir/munge" && chmod 700 "$dir/munge"
    chown mysql:mysql "$dir/mysql"

    # munge on the socket path compiled into libmunge (SLURM's AuthInfo=socket= does not reach
    # its clients' connections to slurmdbd); a munged already answering there is used as is.
    if ! munge -n >/dev/null 2>&1; then
        cp /etc/munge/munge.key "$dir/munge/munge.key" 2>/dev/null \
            || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
        chown munge:munge "$dir/munge/munge.key" && chmod 400 "$dir/munge/munge.key"
        mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
        _slurm_spawn munged setpriv --reuid=munge --regid=munge --init-groups \
            munged --foreground --key-file="$dir/munge/munge.key" \
            --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
            --seed-file="$dir/munge/munged.seed"
        _slurm_wait 10 munged munge -n || { cat "$dir/log/munged.out" >&2; return 1; }
    fi

    # MariaDB for slurmdbd (accounting: submitit learns a dead job's end through sacct).
    mariadb-install-db --no-defaults --user=mysql --datadir="$dir/mysql/data" \
        --auth-root-authentication-method=socket >"$dir/log/mariadb-install.out" 2>&1 || {
        cat "$dir/log/mariadb-install.out" >&2
        return 1
    }
    _slurm_spawn mariadbd mariadbd --no-defaults --user=mysql --datadir="$dir/mysql/data" \
        --socket="$dir/mysql/mysqld.sock" --pid-file="$dir/mysql/mysqld.pid" \
        --port=$((port + 3)) --bind-address=127.0.0.1 --log-error="$dir/mysql/error.log" \
        --skip-log-bin --innodb-buffer-pool-size=32M
    _slurm_wait 30 mariadbd mariadb --no-defaults --socket="$dir/mysql/mysqld.sock" -e 'select 1' \
        || { cat "$dir/mysql/error.log" >&2; return 1; }
    mariadb --no-defaults --socket="$dir/mysql/mysqld.sock" -e "
        CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'ci';
        CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'ci';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || return 1

    cat >"$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=$((port + 2))
SlurmUser=root
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((port + 3))
StorageUser=slurm
StoragePass=ci
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$dir/etc/slurmdbd.conf"

    cat >"$dir/etc/slurm.conf" <<EOF
ClusterName=fleetsim-ci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
EnforcePartLimits=ALL
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((port + 2))
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=60 State=UP
EOF
    export SLURM_CONF=$dir/etc/slurm.conf

    _slurm_spawn slurmdbd slurmdbd -D
    _slurm_wait 30 slurmdbd sacctmgr -i list cluster || { cat "$dir/log/slurmdbd.log" >&2; return 1; }
    _slurm_spawn slurmctld slurmctld -D -i
    _slurm_wait 30 slurmctld scontrol ping || { cat "$dir/log/slurmctld.log" >&2; return 1; }
    _slurm_spawn slurmd slurmd -D
    _slurm_wait 30 "the node" _slurm_node_idle || { cat "$dir"/log/slurmd-*.log >&2; return 1; }
    echo "slurm: one-node cluster up ($host, $cpus CPUs, ${mem_mb} MB; state in $dir)"
}

_slurm_node_idle() {
    sinfo -h -o %T | grep -qx idle
}

slurm_stop() {
    # Stop the daemons slurm_start started, newest first (SIGTERM, then SIGKILL after 10 s).
    local i pid
    for ((i = ${#SLURM_CI_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${SLURM_CI_PIDS[i]}
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SLURM_CI_PIDS=()
}
