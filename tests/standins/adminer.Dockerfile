FROM debian:bookworm-slim
# Debian's Adminer (4.8) with PHP's built-in server, as the official image serves it (user
# adminer, port 8080, PHP's sessions in /tmp); ADMINER_DEFAULT_SERVER is not read here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends adminer php-cli php-pgsql php-mysql \
    && rm -rf /var/lib/apt/lists/* \
    && for ini in /etc/php/*/cli/conf.d; do echo "session.save_path = /tmp" > "$ini/99-sessions.ini"; done \
    && groupadd --system adminer \
    && useradd --system --gid adminer --no-create-home adminer
USER adminer
EXPOSE 8080
STOPSIGNAL SIGINT
CMD ["php", "-S", "0.0.0.0:8080", "-t", "/usr/share/adminer/adminer"]
