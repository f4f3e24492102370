#!/bin/sh
# Stand-in for the official image's healthcheck.sh (--connect --innodb_initialized): the
# server answers a query on its socket.
exec mariadb --user=root --protocol=socket -e "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE='InnoDB'" >/dev/null
