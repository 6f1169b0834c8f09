# syntax=docker/dockerfile:1.7
# phone-consent: the CLI, the pipeline (`run`) and the HTTP API (`serve`) in one image.
#   docker build -t phone-consent .
#   docker run --rm -e PHONE_CONSENT_API_KEYS=... -p 8080:8080 phone-consent \
#     serve --addr 0.0.0.0:8080 --lake s3://LAKE/lake
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /build
# Only what the build reads (.dockerignore keeps target/, lakes and feeds out).
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# deltalake + datafusion take ~25 min to compile from scratch on 2 cores: the cargo
# registry and the target directory live in cache mounts that survive between builds, so
# a rebuild after a source change recompiles our crates only. A cache mount is not part of
# the image, so the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/build/target,sharing=locked \
    cargo build --release --locked -p phone-consent \
    && install -D -m 0755 target/release/phone-consent /out/phone-consent

FROM ${RUNTIME_IMAGE}
# TLS roots for S3 and the other AWS endpoints, taken from the builder (the Rust image
# ships Debian's ca-certificates), so the runtime stage needs no apt layer.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/phone-consent /usr/local/bin/phone-consent
RUN groupadd --system --gid 10001 phone-consent \
    && useradd --system --uid 10001 --gid phone-consent --home-dir /data --create-home \
       --shell /usr/sbin/nologin phone-consent
USER 10001:10001
WORKDIR /data
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
EXPOSE 8080
# Liveness of `serve --addr 0.0.0.0:8080` (the port is HEALTH_PORT when serving elsewhere).
# The slim image has no curl: bash's /dev/tcp sends the request. For `run` and the other
# one-shot commands the check never runs long enough to matter.
ENV HEALTH_PORT=8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HEALTH_PORT} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["phone-consent"]
CMD ["--help"]
