# Vigie's image for docker-compose.yml: the Python package and the Nagios plugins for active checks.
FROM python:3.11-slim
# librdkafka (and, for the build only, its headers and a compiler): the archive sink's columnar reader.
RUN apt-get update && apt-get install -y --no-install-recommends monitoring-plugins-basic librdkafka1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . /src
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev librdkafka-dev \
    && pip install --no-cache-dir /src \
    && python -c "import vigie._kafka_columns" \
    && apt-get purge -y gcc libc6-dev librdkafka-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
EXPOSE 5514/udp 5514/tcp 6514/tcp 1162/udp 5668/tcp 9108/tcp
CMD ["vigie", "up", "--config", "/etc/vigie/vigie.toml"]
