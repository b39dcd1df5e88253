# syntax=docker/dockerfile:1
# Cacherr: keeps the media Plex users are about to watch on an Unraid pool.
#   docker build -t cacherr/cacherr .
#   docker run -d -p 5757:5757 -v /mnt/user/appdata/cacherr:/config \
#     -v /mnt/user0:/mnt/user0 -v /mnt/cache:/mnt/cache cacherr/cacherr
#
# The base image is pinned by digest (python:3.12-slim's multi-arch index); refresh with
#   docker pull python:3.12-slim && docker inspect --format '{{index .RepoDigests 0}}' python:3.12-slim
# The Python dependencies are pinned with hashes in docker/requirements.lock; refresh with
#   pip-compile --generate-hashes --strip-extras --no-emit-index-url \
#     --index-url https://pypi.org/simple -o docker/requirements.lock pyproject.toml
ARG PYTHON_IMAGE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

# Builder: every dependency as the exact wheels the lock file names (binary only, hashes
# checked, so no compiler and no surprise), and Cacherr's own wheel.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY docker/requirements.lock ./docker/requirements.lock
RUN pip download --require-hashes --only-binary=:all: --dest /wheels -r docker/requirements.lock
COPY pyproject.toml README.md ./
COPY cacherr ./cacherr
COPY web ./web
RUN pip wheel --no-deps --wheel-dir /wheels .

# Runtime: the wheels, tini as PID 1 and the entrypoint that drops to PUID:PGID.
FROM ${PYTHON_IMAGE}
# Set by the release workflow: the tag's version and the commit it was built from.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Cacherr" \
      org.opencontainers.image.description="Keeps the media Plex users are about to watch on an Unraid server's fast pool, in real time." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/cacherr/cacherr"

# tini forwards signals to Cacherr and reaps children; tzdata makes TZ work. Debian's
# own packages, unpinned so that each build takes the release's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini tzdata \
    && rm -rf /var/lib/apt/lists/*

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=docker/requirements.lock,target=/tmp/requirements.lock \
    pip install --no-cache-dir --no-index --find-links=/wheels --require-hashes \
        -r /tmp/requirements.lock \
    && pip install --no-cache-dir --no-index --no-deps /wheels/cacherr-*.whl

COPY --chmod=0755 docker/healthcheck.py /usr/local/bin/cacherr-healthcheck

COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/cacherr-entrypoint

ENV CACHERR_CONFIG_DIR=/config \
    CACHERR_IMAGE=1 \
    PUID=99 \
    PGID=100 \
    UMASK=022 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

VOLUME ["/config"]
EXPOSE 5757

# Unhealthy when Cacherr does not answer or cannot write its database (appdata full or
# read-only). The port follows CACHERR_WEB__PORT when set (a port changed in cacherr.json
# alone also needs the variable, as the container's port mapping does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/cacherr-healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/cacherr-entrypoint"]
CMD ["cacherr", "run"]
