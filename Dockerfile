# syntax=docker/dockerfile:1
# One image for every ecm role (migrate, ingest, api, ...): the role is the command.
#   docker build -t ecm .
#   docker run --rm ecm protocol example
# See docs/deployment.md.

# --- build: wheels for the project and all its dependencies -----------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the installed project, no sources, no build tools -------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ECM_ENV=prod \
    ECM_STATE_DIR=/var/lib/ecm

RUN groupadd --system --gid 10001 ecm \
    && useradd --system --uid 10001 --gid ecm --home-dir /var/lib/ecm --create-home \
        --shell /usr/sbin/nologin ecm

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels ecm

USER ecm
WORKDIR /var/lib/ecm

EXPOSE 8000
ENTRYPOINT ["ecm"]
CMD ["--help"]
