# syntax=docker/dockerfile:1
# Fenceline's web editor: gunicorn serving editor.wsgi, static files collected at build time (whitenoise serves
# them), running as an unprivileged user. Build: `docker build -t fenceline .`; run with docker-compose.yml.

# --- 1. front-end packages: npm ci from the lock file, then copy only the files the pages load ----------------
FROM node:20-bookworm AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
# scripts/vendor.py uses only the standard library; the node image ships Debian's python3 to run it.
COPY scripts/vendor.py scripts/vendor.py
RUN python3 scripts/vendor.py

# --- 2. Python wheels for the dependencies named in pyproject.toml (the app itself runs from /app), and the ---
# compiled flow reader (Cython, setup.py): built here with gcc, so the image needs no compiler.
FROM python:3.11-slim AS wheels
WORKDIR /src
COPY pyproject.toml setup.py ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY editor ./editor
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']))" \
        > build-requirements.txt \
    && pip install --no-cache-dir -r build-requirements.txt \
    && python setup.py build_ext --build-lib /compiled

# --- 3. the image: no compilers, no npm, no pip cache; only the app, its wheels and the collected static files --
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=editor.settings \
    FENCELINE_SCHEMA_CODE_DIR=/app/schema-code \
    DATABASE_URL=sqlite:////data/fenceline.sqlite3 \
    WEB_CONCURRENCY=2 \
    GUNICORN_CMD_ARGS="--bind=0.0.0.0:8000 --worker-class=editor.gunicorn_worker.SyncWorker --worker-tmp-dir=/dev/shm --access-logfile=- --timeout=60 --graceful-timeout=20 --no-control-socket"

RUN groupadd --system --gid 10001 fenceline \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fenceline \
    && mkdir /data && chown 10001:10001 /data

RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    --mount=type=bind,from=wheels,source=/src/requirements.txt,target=/tmp/requirements.txt \
    pip install --no-cache-dir --no-index --find-links=/wheels -r /tmp/requirements.txt

WORKDIR /app
COPY manage.py ./
COPY editor ./editor
# Only the built modules (.so, at their package paths) from the build stage.
COPY --from=wheels /compiled/editor/ ./editor/
COPY templates ./templates
# The lint rules' and the rating's "why" pages are served from these Markdown files.
COPY docs/rules ./docs/rules
COPY --from=frontend /src/static/vendor ./static/vendor
# Collected and compressed once here, so every replica serves identical, hashed file names; the settings need
# no secret for this (SECRET_KEY is only read when a request is served).
RUN python manage.py collectstatic --noinput -v 0 \
    && python -m compileall -q /app/editor \
    && python -c "from editor.policy.validate import prepare_schema_code; assert len(prepare_schema_code()) == 3" \
    && python -c "from editor.policy.flows import aggregate, graph; assert aggregate.COMPILED, 'no compiled flow reader'; assert graph._compiled, 'no compiled flow builder'" \
    && printf '#!/bin/sh\nexec python -m editor.policy.cli "$@"\n' > /usr/local/bin/fenceline \
    && chmod 755 /usr/local/bin/fenceline

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# Host: localhost matches the default ALLOWED_HOSTS; keep "localhost" in ALLOWED_HOSTS when you set your own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=4)"]
# Migrations are idempotent; with several replicas (Kubernetes) run them once instead, see deploy/kubernetes.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn editor.wsgi"]
