FROM debian:bookworm-slim
ENV PATH=/usr/local/bin:$PATH \
    LANG=C.UTF-8 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
COPY ca/ /usr/local/share/ca-certificates/
# The runtime libraries the official slim image carries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates netbase tzdata libssl3 \
       libsqlite3-0 libffi8 libbz2-1.0 liblzma5 libncursesw6 libreadline8 zlib1g libuuid1 libexpat1 \
    && rm -rf /var/lib/apt/lists/* \
    && update-ca-certificates
COPY python/ /usr/local/
RUN ldconfig \
    && python3 -m ensurepip --default-pip \
    && ln -sf python3 /usr/local/bin/python \
    && ln -sf pip3 /usr/local/bin/pip \
    && rm -rf /root/.cache \
    && python --version && python -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib"
CMD ["python3"]
