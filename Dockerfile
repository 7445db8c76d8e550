# The hub's one image: web (gunicorn), Celery workers and beat all run from it; docker-compose.yml picks the
# command. Build with --build-arg WITH_INFERENCE=1 for GPU workers (adds torch and transformers).
FROM python:3.11-slim

ARG WITH_INFERENCE=0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings \
    VAR_DIR=/app/var \
    PORT=8000

RUN groupadd --system --gid 1000 hub \
    && useradd --system --uid 1000 --gid hub --home-dir /app --shell /usr/sbin/nologin hub

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them: install the project from
# pyproject.toml with empty packages, then drop the project itself (the code is imported from /app).
COPY pyproject.toml ./
RUN mkdir -p portal registry api \
    && touch portal/__init__.py registry/__init__.py api/__init__.py \
    && if [ "$WITH_INFERENCE" = "1" ]; then extras="[inference]"; else extras=""; fi \
    && pip install ".${extras}" \
    && pip uninstall -y consortium-hub \
    && rm -rf portal registry api build ./*.egg-info

COPY . .
ENV PYTHONPATH=/app

# Static files are collected at build time and served by whitenoise. The key only satisfies the settings'
# start-up check during this step; the real one comes from the environment at run time.
RUN SECRET_KEY=collectstatic-only-build-time-key-not-used-at-run-time \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var \
    && chown -R hub:hub /app/var

USER hub
EXPOSE 8000

# Web by default; workers and beat override the command (see docker-compose.yml). gunicorn reads
# WEB_CONCURRENCY (worker processes) and GUNICORN_CMD_ARGS from the environment.
CMD ["sh", "-c", "exec gunicorn portal.wsgi:application --bind 0.0.0.0:${PORT} --worker-class gthread --threads 4 --timeout 120 --forwarded-allow-ips='*' --access-logfile -"]
