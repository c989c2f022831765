# tickflow: build with the Rust toolchain, run on a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
# librdkafka and the PostgreSQL client link Debian's OpenSSL (rust:bookworm ships the headers;
# installing is a no-op there and keeps the build honest elsewhere).
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
COPY benches ./benches
RUN cargo build --release --locked --bin tickflow

FROM debian:bookworm-slim
# libssl3 for TLS to Kafka and PostgreSQL; ca-certificates for sslrootcert=system and for
# librdkafka's default trust store.
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 tickflow
COPY --from=build /src/target/release/tickflow /usr/local/bin/tickflow
COPY dataflows /app/dataflows
USER tickflow
WORKDIR /app
ENTRYPOINT ["tickflow"]
CMD ["run", "dataflows/demo.toml"]
