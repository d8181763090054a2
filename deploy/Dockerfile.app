# The application image: action server, Telegram connector, dashboard, `neetbot` CLI (Python 3.11).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN pip install uv
# The production lock only: the development tools (tests, linters, pip-audit) are in dev.lock.
COPY requirements/app.lock requirements/app.lock
RUN uv pip install --system -r requirements/app.lock
COPY . .
RUN uv pip install --system --no-deps -e . && useradd --create-home --uid 1000 neetbot && chown -R neetbot /app
# UID 1000: the Kubernetes manifests run the container as it (deploy/kubernetes, runAsUser)
USER neetbot
