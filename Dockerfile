# feedsvc container image (issue 2, item 8).
#
#   docker build -t feedsvc .
#   docker build --build-arg BASE_IMAGE=debian:bookworm-slim -t feedsvc .
#
# BASE_IMAGE may be any Debian-based image: the official python:3.11-slim (default,
# Python already in /usr/local) or a plain Debian/Ubuntu image with apt but no Python,
# in which case python3 (>= 3.11, e.g. Debian 12) is installed from the distribution.
# Both stages start from the same base so the venv's interpreter path is the same in each.
# With podman/buildah add `--format docker`: the OCI format has no HEALTHCHECK field.
ARG BASE_IMAGE=python:3.11-slim

# ---- builder: a self-contained virtualenv in /opt/venv ----------------------------------
FROM ${BASE_IMAGE} AS builder
# Versions follow the base's distribution release, which is the pin here: pinning exact
# Debian package versions breaks the build as soon as the mirror ships a security update.
# The check is for what `-m venv` needs (Debian splits ensurepip into python3-venv).
# hadolint ignore=DL3008
RUN if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies (and the build backend) first, from pyproject.toml alone, so editing the
# code does not re-download them (layer cache); their versions are bounded there.
# Behind a TLS-intercepting proxy pass its CA bundle as a build secret, used only by this
# step and never stored in the image:  --secret id=pip_cert,src=/path/to/ca-bundle.crt
COPY pyproject.toml ./
RUN --mount=type=secret,id=pip_cert \
    python3 -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(d["build-system"]["requires"] + d["project"]["dependencies"] + d["project"]["optional-dependencies"]["fast"]))' > requirements.txt \
    && if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && /opt/venv/bin/pip install -r requirements.txt
COPY README.md ./
COPY feedsvc ./feedsvc
# Offline from here: everything needed is in the venv already.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --no-index . \
    && /opt/venv/bin/feedsvc --help >/dev/null

# ---- runtime -------------------------------------------------------------------------
FROM ${BASE_IMAGE}
# Only the interpreter at run time: no venv module, no pip cache, no build files.
# apt-get clean too: a base without the official images' docker-clean hook kept ~90 MB
# of package caches in the image.
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi \
    && groupadd --gid 10001 feedsvc \
    && useradd --uid 10001 --gid feedsvc --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin feedsvc
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# The shipped config is the default; compose bind-mounts ./config over it (read-only).
COPY config /app/config
# FEEDSVC_LISTEN pins the in-container address to the EXPOSEd port whatever the YAML says;
# the HEALTHCHECK below reads it too, so overriding it moves both together.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FEEDSVC_CONFIG=/app/config/feeds.yaml \
    FEEDSVC_LISTEN=0.0.0.0:8080
# A numeric non-root user, so runtimes enforcing runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080
# /healthz is "process alive, no I/O" (issue 2). urllib instead of curl: nothing extra to
# install; the empty ProxyHandler keeps an inherited HTTP_PROXY from catching loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; port = os.environ.get('FEEDSVC_LISTEN', ':8080').rpartition(':')[2]; u.build_opener(u.ProxyHandler({})).open(f'http://127.0.0.1:{port}/healthz', timeout=4).close()"]
CMD ["feedsvc", "serve", "-c", "/app/config/feeds.yaml"]
