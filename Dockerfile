# One image for web, worker, trainer and inference (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml package.json package-lock.json ./
COPY manage.py ./
COPY platform_web platform_web
COPY trainer_api trainer_api
COPY worker worker
COPY static static
COPY templates templates
RUN pip install --no-cache-dir . \
    && npm ci --no-audit --no-fund && mkdir -p static/vendor \
    && cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/ && rm -rf node_modules
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
EXPOSE 8000 8001 8002
