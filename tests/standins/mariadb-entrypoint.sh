#!/bin/sh
# Honours what the official image does for berth: MARIADB_DATABASE/USER/PASSWORD, data in
# /var/lib/mysql, listening on all interfaces. root keeps Debian's socket authentication (the
# official image's MARIADB_RANDOM_ROOT_PASSWORD is accepted and not needed).
set -eu
DATADIR=/var/lib/mysql
chown -R mysql:mysql "$DATADIR" /run/mysqld
if [ ! -d "$DATADIR/mysql" ]; then
    : "${MARIADB_PASSWORD:?MARIADB_PASSWORD must be set}"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db >/dev/null
    mariadbd --user=mysql --datadir="$DATADIR" --bootstrap <<SQL
FLUSH PRIVILEGES;
CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE:-app}\`;
CREATE USER '${MARIADB_USER:-app}'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';
GRANT ALL ON \`${MARIADB_DATABASE:-app}\`.* TO '${MARIADB_USER:-app}'@'%';
SQL
fi
if [ "$1" = mariadbd ]; then
    shift
    exec mariadbd --user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 "$@"
fi
exec "$@"
