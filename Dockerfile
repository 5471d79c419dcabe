# Multi-stage build of the `delightchat` binary.
#
# The image runs in production mode (APP_ENV=production): it refuses to start without
# real JWT_SECRET and SECRET_KEY (`openssl rand -hex 32` each), and with development
# keys. See docker-compose.yml for a local stack.
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when Cargo.toml or Cargo.lock
# change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/it/main.rs \
    && cargo build --release --locked --bin delightchat \
    && rm -rf src target/release/.fingerprint/delightchat-* target/release/deps/delightchat-* target/release/deps/libdelightchat-*
COPY build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY assets ./assets
RUN cargo build --release --locked --bin delightchat

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/delightchat delightchat
COPY --from=build /src/target/release/delightchat /usr/local/bin/delightchat
USER delightchat
WORKDIR /var/lib/delightchat
ENV APP_ENV=production \
    BIND_ADDR=0.0.0.0:3001 \
    DATA_DIR=/var/lib/delightchat/data
EXPOSE 3001
# Ready = the database answers and no shutdown has begun.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:3001/readyz || exit 1
# SIGTERM starts a drain of up to 20 s: give the container more (stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["delightchat"]
CMD ["serve"]
