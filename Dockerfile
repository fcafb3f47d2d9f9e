# The app image for docker-compose.yml (PostGIS runs in its own container).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends npm postgresql-client && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/sinergi
COPY requirements.txt ./
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir -r requirements.txt
COPY . .
RUN scripts/vendor_assets.sh && scripts/compile_translations.sh
# Run as an unprivileged user. The folders it writes (the key file's volume, uploads) are made
# here so that Docker's named volumes start with this owner.
RUN useradd --system --home-dir /srv/sinergi sinergi \
    && mkdir -p /var/lib/sinergi instance/uploads \
    && chown sinergi /var/lib/sinergi instance instance/uploads && chmod 700 /var/lib/sinergi
USER sinergi
EXPOSE 8080
CMD ["scripts/docker_entrypoint.sh"]
