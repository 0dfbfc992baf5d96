# The hubs platform image: the package, dbt and Dagster, with the dbt manifest parsed at build time.
# One image serves both Dagster processes (see docker-compose.yml):
#   default command   the webserver (UI and GraphQL) on port 3000
#   dagster-daemon    `dagster-daemon run -w workspace.yaml` (sensors, run queue, run workers)
# Every store is reached through the HUBS_* variables the compose file sets; nothing here needs a
# database or the network at run time except those stores.

FROM python:3.11-slim

# The account the processes run as. A host folder mounted as the inbox must be readable by this UID.
ARG HUBS_UID=10001
ARG HUBS_GID=10001

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DAGSTER_HOME=/opt/dagster/home \
    HUBS_HOME=/data/hubs

RUN groupadd --system --gid "${HUBS_GID}" hubs \
    && useradd --system --uid "${HUBS_UID}" --gid hubs --home-dir /home/hubs --create-home \
        --shell /usr/sbin/nologin hubs

# hubs/settings.py finds the dbt project next to the package (PROJECT_ROOT = the repo root), so the
# repo is copied whole to /app and installed editable from there.
WORKDIR /app

# 1. Dependencies only: a layer that is rebuilt only when pyproject.toml changes. Empty packages
#    and README stand in for the code (every dependency ships wheels for linux/amd64 and arm64 on
#    Python 3.11, so no compiler or -dev packages are needed).
COPY pyproject.toml ./
RUN mkdir hubs hub_assets resources \
    && touch README.md hubs/__init__.py hub_assets/__init__.py resources/__init__.py \
    && pip install --no-cache-dir -e . \
    && rm -rf hubs.egg-info

# 2. The code (see .dockerignore), installed editable again without touching the dependencies.
#    Code stays owned by root; only dbt's target/ and logs/, the Dagster home and the data folder
#    are writable by the service account.
COPY . .
RUN pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q hubs hub_assets resources \
    && mkdir -p dbt_project/target dbt_project/logs "${DAGSTER_HOME}" "${HUBS_HOME}/inbox" \
    && cp dagster.yaml "${DAGSTER_HOME}/dagster.yaml" \
    && chown -R hubs:hubs dbt_project/target dbt_project/logs "${DAGSTER_HOME}" "${HUBS_HOME}"

# Numeric, so that runtimes that check for a non-root user (runAsNonRoot) can tell.
USER ${HUBS_UID}:${HUBS_GID}

# 3. The dbt manifest, baked in: `dbt parse` needs no database (the profile only renders
#    HUBS_POSTGRES_URL, which has a default).
WORKDIR /app/dbt_project
RUN dbt parse --quiet --profiles-dir . --project-dir .

# Importing the definitions proves the image loads the code location and that the manifest counts
# as fresh (nothing is parsed at start-up).
WORKDIR /app
RUN python -c "import hub_assets.definitions"

EXPOSE 3000

CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
