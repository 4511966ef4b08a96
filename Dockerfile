# Two stages: build a static-ish release binary, then a slim runtime as a non-root user.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked && strip target/release/vaultgate

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 vaultgate
COPY --from=build /src/target/release/vaultgate /usr/local/bin/vaultgate
COPY policies /etc/vaultgate/policies
USER vaultgate
EXPOSE 8300
ENTRYPOINT ["vaultgate"]
CMD ["run", "--config", "/etc/vaultgate/vaultgate.toml"]
