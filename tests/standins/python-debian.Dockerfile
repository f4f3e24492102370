# python:X.Y-slim for a version this machine has no CPython build of (3.14 here): Debian's
# pythonX.Y from the newest suite, laid out like the official image (python, python3,
# pythonX.Y and pip in /usr/local/bin; pip installs allowed, as there). Debian's ensurepip
# refuses the system Python, so pip is installed from Debian's pip wheel.
FROM debian:sid-slim
ARG VERSION
ENV PATH=/usr/local/bin:$PATH \
    LANG=C.UTF-8 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates netbase tzdata \
       "python$VERSION" "python$VERSION-venv" python3-pip-whl python3-setuptools-whl \
    && rm -rf /var/lib/apt/lists/* \
    && update-ca-certificates \
    && rm -f "/usr/lib/python$VERSION/EXTERNALLY-MANAGED" \
    && ln -s "/usr/bin/python$VERSION" "/usr/local/bin/python$VERSION" \
    && ln -s "python$VERSION" /usr/local/bin/python3 \
    && ln -s python3 /usr/local/bin/python \
    && wheel=$(ls /usr/share/python-wheels/pip-*.whl) \
    && python "$wheel/pip" install --no-cache-dir --no-index "$wheel" \
    && rm -rf /root/.cache \
    && python --version && pip --version \
    && python -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib, venv"
CMD ["python3"]
