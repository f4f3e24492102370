#!/bin/sh
# As the official image does at start: each /etc/nginx/templates/*.template becomes
# /etc/nginx/conf.d/<name> with the variables of the environment filled in (only those that
# are set, so nginx's own $variables stay).
set -eu
if [ -d /etc/nginx/templates ]; then
    defined=$(printf '${%s} ' $(env | cut -d= -f1))
    for template in /etc/nginx/templates/*.template; do
        [ -f "$template" ] || continue
        output="/etc/nginx/conf.d/$(basename "$template" .template)"
        envsubst "$defined" < "$template" > "$output"
    done
fi
exec "$@"
