#!/usr/bin/env bash
# Installs the Debian packages expense_ops needs, only those missing. Safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format clang-tidy
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  libpqxx-dev libboost-program-options-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev nlohmann-json3-dev  # the worker's http and tcp checks
  libgtest-dev libbenchmark-dev
  libssl-dev libargon2-dev libcrypt-dev libhowardhinnant-date-dev tzdata libicu-dev iso-codes
  postgresql-15-tdigest  # the peer of the latency sketch benchmark (bench/latency_sketch.sh)
  perl python3 python3-jwt python3-psycopg2  # perl: prove runs the integration layer
  prometheus-alertmanager prometheus  # the integration layer runs its own, on loopback ports
  prometheus-cpp-dev  # the worker's /metrics
  python3-aiosmtpd  # the SMTP sink of the email channel's tests
  nginx-light  # make run's live HTTP target, whose access log the worker ships
  pgbackrest  # the production backup backend (issue 12); pg_basebackup comes with postgresql-15
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The packages enable their services and, where systemd runs, start them on their usual ports.
# make run and the tests start instances of their own, so a service this script brought is
# stopped again.
if [ -d /run/systemd/system ]; then
  for service in prometheus-alertmanager prometheus nginx; do
    package=$service
    [ "$service" = nginx ] && package=nginx-light
    if [[ " ${missing[*]} " == *" $package "* ]]; then
      "${sudo_cmd[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi
