# Two stages: build the release binary, then a slim runtime that runs it as a non-root user.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# benches/ is named in Cargo.toml, so cargo wants it present even for a plain build.
COPY benches ./benches
COPY src ./src
RUN cargo build --release --locked && strip target/release/vaultgate

FROM debian:bookworm-slim
# auth = "aws" may need STS over https (web identity, assumed roles): the system's CA roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /etc/vaultgate --shell /usr/sbin/nologin vaultgate \
 && mkdir -p /etc/vaultgate/certs /etc/vaultgate/secrets \
 && chown vaultgate:vaultgate /etc/vaultgate/certs /etc/vaultgate/secrets
COPY --from=build /src/target/release/vaultgate /usr/local/bin/vaultgate
# The example configuration and policies as defaults; docker-compose.yml mounts the same files.
COPY examples/vaultgate.toml /etc/vaultgate/vaultgate.toml
COPY policies /etc/vaultgate/policies
USER vaultgate
WORKDIR /etc/vaultgate
EXPOSE 8300
ENTRYPOINT ["vaultgate"]
CMD ["run", "--config", "/etc/vaultgate/vaultgate.toml"]
