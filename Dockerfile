# Vigie's image for docker-compose.yml: the Python package and the Nagios plugins for active checks.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends monitoring-plugins-basic \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir /src
EXPOSE 5514/udp 5514/tcp 6514/tcp 1162/udp 5668/tcp 9108/tcp
CMD ["vigie", "up", "--config", "/etc/vigie/vigie.toml"]
