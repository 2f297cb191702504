#!/usr/bin/env bash
# Make a local PostgreSQL available to the test suite (Debian; CI runs it as root on a fresh machine).
#
#   eval "$(bash .ci/postgres.sh)"
#
# Installs Debian's `postgresql` if missing, starts its cluster, ensures a password role that can log in
# over TCP on 127.0.0.1 and create databases, then prints one line on stdout:
#   export TRAVELBOT_TEST_PG_URL=postgresql+psycopg://USER:PASSWORD@127.0.0.1:PORT/postgres
# Sourcing it instead exports the variable directly. Idempotent. Never fails the build: when PostgreSQL cannot be had it prints nothing on stdout, says why on
# stderr and exits 0, and the PostgreSQL tests skip. All diagnostics go to stderr.

# Sourced (`. .ci/postgres.sh`) rather than run: run in a child shell and export its answer here.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    eval "$(bash "${BASH_SOURCE[0]}")"
    return 0
fi

exec 3>&1 1>&2    # fd 3 is the real stdout, kept for the export line only

PG_USER="${TRAVELBOT_CI_PG_USER:-travelbot}"
PG_PASSWORD="${TRAVELBOT_CI_PG_PASSWORD:-travelbot}"

say() { echo "postgres.sh: $*" >&2; }
give_up() { say "$* -- PostgreSQL tests will be skipped."; exit 0; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
    as_postgres() { runuser -u postgres -- "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
    as_postgres() { sudo -n -u postgres -- "$@"; }
else
    SUDO=()
    as_postgres() { "$@"; }
fi

installed_version() {
    ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1
}

# Everything that may start the server runs with fd 3 closed: a daemon that inherited it would hold the
# caller's $(...) pipe open and `eval "$(bash .ci/postgres.sh)"` would never return.
{
    # 1. Install if missing.
    version="$(installed_version)"
    if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        command -v apt-get >/dev/null 2>&1 || give_up "PostgreSQL is not installed and apt-get is not available"
        say "installing postgresql with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        "${SUDO[@]}" apt-get update -qq >&2 || give_up "apt-get update failed"
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends postgresql >&2 \
            || give_up "apt-get install postgresql failed"
        version="$(installed_version)"
        [ -n "$version" ] || give_up "postgresql was installed but no server version was found"
    fi
    say "using PostgreSQL $version"

    # 2. Find (or create) a cluster of that version and start it.
    read -r cluster port status < <(pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v { print $2, $3, $4; exit }')
    if [ -z "${cluster:-}" ]; then
        say "creating cluster $version/main"
        "${SUDO[@]}" pg_createcluster "$version" main >&2 || give_up "pg_createcluster $version main failed"
        read -r cluster port status < <(pg_lsclusters -h | awk -v v="$version" '$1 == v { print $2, $3, $4; exit }')
    fi
    if [ "$status" != "online" ]; then
        say "starting cluster $version/$cluster on port $port"
        "${SUDO[@]}" pg_ctlcluster "$version" "$cluster" start >&2 || give_up "pg_ctlcluster $version $cluster start failed"
    fi
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p "$port" || give_up "the server on 127.0.0.1:$port did not become ready"

    # 3. A role with a password (TCP uses scram-sha-256 in Debian's pg_hba.conf) that may create test databases.
    sql_user="${PG_USER//\"/\"\"}"
    sql_password="${PG_PASSWORD//\'/\'\'}"
    as_postgres psql -q -v ON_ERROR_STOP=1 -p "$port" -d postgres >&2 <<SQL || give_up "could not create role $PG_USER"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PG_USER//\'/\'\'}') THEN
    CREATE ROLE "$sql_user" LOGIN CREATEDB PASSWORD '$sql_password';
  ELSE
    ALTER ROLE "$sql_user" LOGIN CREATEDB PASSWORD '$sql_password';
  END IF;
END
\$\$;
SQL

    # 4. Check the login works over TCP before advertising it.
    PGPASSWORD="$PG_PASSWORD" psql -q -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -tAc 'SELECT 1' >/dev/null \
        || give_up "cannot log in as $PG_USER on 127.0.0.1:$port"
} 3>&-

urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
say "ready: $PG_USER@127.0.0.1:$port"
echo "export TRAVELBOT_TEST_PG_URL=postgresql+psycopg://$(urlencode "$PG_USER"):$(urlencode "$PG_PASSWORD")@127.0.0.1:$port/postgres" >&3
