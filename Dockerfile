# tickflow: build with the Rust toolchain, run on a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY assets ./assets
COPY benches ./benches
RUN cargo build --release --locked --bin tickflow

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 tickflow
COPY --from=build /src/target/release/tickflow /usr/local/bin/tickflow
COPY dataflows /app/dataflows
USER tickflow
WORKDIR /app
ENTRYPOINT ["tickflow"]
CMD ["run", "dataflows/demo.toml"]
