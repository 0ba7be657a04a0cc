# Throwaway PostgreSQL 15 clusters for make run, make test and make bench. Source this file.
#
# A cluster lives in one base directory: data/, the socket, and server.log. PostgreSQL refuses
# to run as root, so under root the server runs as the unprivileged "postgres" user that the
# Debian package creates; clients connect over the socket in the base directory.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SERVER_USER=postgres

# Runs a command as the user that owns the server processes.
as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$SERVER_USER" -- "$@"
  else
    "$@"
  fi
}

# Prints a TCP port on 127.0.0.1 that nothing listens on, starting the search at $1.
free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

# Makes $1 a directory the server user may write. Under root, a checkout in a place the
# server user cannot reach (such as /root) gets its cluster in /tmp, linked from $1.
cluster_prepare_base() {
  local base=$1
  mkdir -p "$(dirname "$base")"
  if [ "$(id -u)" -eq 0 ]; then
    if [ -L "$base" ] && [ ! -d "$base" ]; then
      rm -f "$base"
    fi
    if [ ! -e "$base" ]; then
      mkdir -p "$base"
    fi
    chown "$SERVER_USER": "$base"
    if ! runuser -u "$SERVER_USER" -- test -w "$base"; then
      local elsewhere
      rmdir "$base" 2>/dev/null || rm -rf "$base"
      elsewhere=$(mktemp -d /tmp/expense_ops_cluster.XXXXXX)
      chown "$SERVER_USER": "$elsewhere"
      chmod 755 "$elsewhere"
      ln -s "$elsewhere" "$base"
    fi
  else
    mkdir -p "$base"
  fi
}

# cluster_create BASE PORT [PRELOAD]: initdb with trust authentication on the socket and on
# 127.0.0.1; PRELOAD, when given, is shared_preload_libraries (make run and make test preload
# pg_stat_statements, which ops.sample_statements() reads).
cluster_create() {
  local base=$1 port=$2 preload=${3:-}
  cluster_prepare_base "$base"
  base=$(cd "$base" && pwd -P)
  as_server_user "$PG_BIN/initdb" -D "$base/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    --no-instructions >"$base/initdb.log" 2>&1 || {
    cat "$base/initdb.log" >&2
    return 1
  }
  as_server_user tee -a "$base/data/postgresql.conf" >/dev/null <<CONF
# expense_ops throwaway cluster
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$base'
max_connections = 100
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
shared_preload_libraries = '$preload'
CONF
}

# cluster_start BASE
cluster_start() {
  local base
  base=$(cd "$1" && pwd -P)
  as_server_user "$PG_BIN/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 start >/dev/null
}

# cluster_stop BASE: fast shutdown; quiet when the cluster is not running.
cluster_stop() {
  local base
  base=$(cd "$1" 2>/dev/null && pwd -P) || return 0
  [ -f "$base/data/postmaster.pid" ] || return 0
  as_server_user "$PG_BIN/pg_ctl" -D "$base/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

cluster_restart() {
  local base
  base=$(cd "$1" && pwd -P)
  as_server_user "$PG_BIN/pg_ctl" -D "$base/data" -l "$base/server.log" -m fast -w -t 60 restart >/dev/null
}

# cluster_env BASE PORT: points libpq clients (psql, pg_regress, pg_prove, pgbench) at it.
cluster_env() {
  PGHOST=$(cd "$1" && pwd -P)
  PGPORT=$2
  PGUSER=postgres
  export PGHOST PGPORT PGUSER
  unset PGDATABASE PGPASSWORD
}

# cluster_crashes BASE: prints server log lines that show a backend died by a signal.
cluster_crashes() {
  grep -E "terminated by signal|was terminated by exception|server process .* exited abnormally" \
    "$1/server.log" 2>/dev/null
}

# install_extension [TARGET]: make install (or TARGET), with sudo when not root.
install_extension() {
  local target=${1:-install}
  if [ "$(id -u)" -eq 0 ]; then
    make -s "$target"
  else
    sudo make -s "$target"
  fi
}
