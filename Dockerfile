# syntax=docker/dockerfile:1
# xinfang-bot: `xinfang serve` on PostgreSQL (or SQLite in /data). See docs/deploy.md.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XINFANG_HOST=0.0.0.0 \
    XINFANG_PORT=8080 \
    XINFANG_CONFIG_DIR=/app/config \
    XINFANG_DATA_DIR=/data \
    XINFANG_LOG_JSON=true
# official documents (WeasyPrint): pango and HarfBuzz's subsetter, and the CJK fonts
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app xinfang \
    && mkdir -p /data \
    && chown xinfang /data
COPY --from=build /install /usr/local
COPY config /app/config
WORKDIR /app
USER xinfang
EXPOSE 8080
VOLUME ["/data"]
# liveness only; readiness (database, schema, outbox backlog) is /readyz
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
# SIGTERM: requests finish, the outbox hands its rows back (XINFANG_SHUTDOWN_TIMEOUT_SECONDS)
STOPSIGNAL SIGTERM
ENTRYPOINT ["xinfang"]
CMD ["serve"]
