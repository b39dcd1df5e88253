# syntax=docker/dockerfile:1
# Cacherr: keeps the media Plex users are about to watch on an Unraid pool.
#   docker build -t cacherr/cacherr .
#   docker run -d -p 5757:5757 -v /mnt/user/appdata/cacherr:/config \
#     -v /mnt/user0:/mnt/user0 -v /mnt/cache:/mnt/cache cacherr/cacherr
ARG PYTHON_VERSION=3.12

# Builder: the package and every dependency as wheels (all of them ship binary wheels,
# so no compiler is needed here either).
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cacherr ./cacherr
COPY web ./web
RUN pip wheel --wheel-dir /wheels .

# Runtime: the wheels, tini as PID 1 and the entrypoint that drops to PUID:PGID.
FROM python:${PYTHON_VERSION}-slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="Cacherr" \
      org.opencontainers.image.description="Keeps the media Plex users are about to watch on an Unraid server's fast pool, in real time." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/cacherr/cacherr"

# tini forwards signals to Cacherr and reaps children; tzdata makes TZ work. Debian's
# own packages, unpinned so that each build takes the release's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini tzdata \
    && rm -rf /var/lib/apt/lists/*

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/cacherr-*.whl

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

# The port follows CACHERR_WEB__PORT when set (a port changed in cacherr.json alone
# also needs the variable, as the container's port mapping does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('CACHERR_WEB__PORT', '5757'), timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/cacherr-entrypoint"]
CMD ["cacherr", "run"]
