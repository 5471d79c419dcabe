# Multi-stage build of the `delightchat` binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY tests ./tests
RUN cargo build --release --locked --bin delightchat

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/delightchat /usr/local/bin/delightchat
ENV BIND_ADDR=0.0.0.0:3001
EXPOSE 3001
ENTRYPOINT ["delightchat"]
CMD ["serve"]
