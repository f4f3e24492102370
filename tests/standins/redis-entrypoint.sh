#!/bin/sh
# The official image builds Redis with protected mode off and serves /data; Debian's does not.
set -eu
if [ "$1" = redis-server ]; then
    shift
    exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data "$@"
fi
exec "$@"
