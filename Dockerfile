# The API on port 8000. Migrations and the (idempotent) seed, the 2003 work plan and the shipped ratifications, run at start; set WORKPLAN_DATABASE_URL for PostgreSQL,
# and, when several containers serve the same database, WORKPLAN_SECRET_KEY and WORKPLAN_RATE_LIMIT_STORAGE, and run
# `workplan db upgrade` once instead (README, Production). WORKPLAN_WORKERS sets the worker processes.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /srv/workplan
# Dependencies first, from the lock, so that code changes reuse this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --no-create-home workplan \
    && mkdir /data && chown workplan /data
USER workplan
ENV PATH=/opt/venv/bin:$PATH \
    WORKPLAN_DATABASE_URL=sqlite:////data/workplan.db \
    WORKPLAN_SECRET_KEY_FILE=/data/secret \
    WORKPLAN_LOG_FORMAT=json
VOLUME /data
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["sh", "-c", "workplan db upgrade && workplan seed && exec workplan serve --host 0.0.0.0 --port 8000"]
