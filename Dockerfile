# Two stages: build the release binary, then ship it alone on a slim base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p crm-api --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/crm --create-home crm
COPY --from=build /src/target/release/crm /usr/local/bin/crm
USER crm
WORKDIR /var/lib/crm
ENV CRM_BIND=0.0.0.0:8080 DATABASE_URL=sqlite:///var/lib/crm/crm.db RUST_LOG=info
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["crm"]
CMD ["serve"]
