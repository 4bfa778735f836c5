# Slim serving image: ONNX Runtime + FastAPI only (no CatBoost, scikit-learn, pandas or DVC).
# Build: docker build -t triage-service .    (or `make image` with podman, see README)
FROM python:3.11-slim AS build
WORKDIR /build
COPY service/ service/
COPY src/triage_shared/ src/triage_shared/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir ./service

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin triage \
    && mkdir -p /var/log/triage \
    && chown triage /var/log/triage
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRIAGE_HOST=0.0.0.0 \
    TRIAGE_PORT=8000 \
    TRIAGE_LOG_DIR=/var/log/triage
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["triage-service"]
