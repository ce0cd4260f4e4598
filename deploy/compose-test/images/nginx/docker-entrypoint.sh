#!/bin/bash
# The part of the official nginx image's entrypoint that docker-compose.yml uses: every
# /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME, with the variables set in
# the environment (only those) replaced by envsubst.
set -euo pipefail
if [ "${1:-}" = nginx ]; then
    defined="$(printf '${%s} ' $(env | cut -d= -f1))"
    for template in /etc/nginx/templates/*.template; do
        [ -f "$template" ] || continue
        out="/etc/nginx/conf.d/$(basename "$template" .template)"
        echo "docker-entrypoint.sh: rendering $template into $out" >&2
        envsubst "$defined" < "$template" > "$out"
    done
fi
exec "$@"
