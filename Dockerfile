# Container images for Volley's deployment example (docker-compose.yml), built from the
# workspace root. Two targets:
#   chat   (the default)  the chat example: docker build -t volley-chat .
#   tansu                 a Kafka-protocol broker built from its crates.io package:
#                         docker build --target tansu -t volley-tansu .
# The chat image serves on 0.0.0.0:3000 as the unprivileged user `volley`; VOLLEY_ADAPTER
# (redis, amqp, kafka) and the broker URLs in docker-compose.yml pick the adapter
# (deploy/docker-entrypoint.sh, deploy/common.sh). deploy/README.md tells the rest.
#
# BuildKit builds this file (the default since Docker 23; DOCKER_BUILDKIT=1 before) with its
# built-in Dockerfile syntax: no `# syntax=` line, so that a build pulls nothing but the base
# images below.
#
# Build arguments (docker-compose.yml passes them on from the environment, same defaults):
#   RUST_IMAGE, NODE_IMAGE, RUNTIME_IMAGE  the base images (deploy/compose-test.sh builds local
#                                          stand-ins on a machine that reaches no registry)
#   CHAT_BUILD   source (default): cargo builds the chat server in RUST_IMAGE;
#                prebuilt: take deploy/prebuilt/chat, a binary built on the host (for glibc
#                of Debian bookworm or older), as CI's compose test does to save the release build
#   TANSU_BUILD  the same for the tansu target: source (cargo install), or deploy/prebuilt/tansu

# Same toolchain as CI; Debian bookworm everywhere, so the binaries find the glibc they were
# linked against.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG CHAT_BUILD=source
ARG TANSU_BUILD=source

# --- the page's socket.io-client, from the lock file --------------------------------------------
FROM ${NODE_IMAGE} AS page
WORKDIR /chat
COPY examples/chat/package.json examples/chat/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- the chat server ------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build-source
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/, node_modules/, .git): cargo needs every
# member's manifest. librdkafka (the Kafka adapter) builds from its bundled sources with the C
# compiler and make of the rust image.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p volley-examples --bin chat \
    && install -D target/release/chat /out/chat

# ... or the one built on the host (CHAT_BUILD=prebuilt); BuildKit builds only the stage picked
FROM ${RUNTIME_IMAGE} AS build-prebuilt
COPY deploy/prebuilt/chat /out/chat

FROM build-${CHAT_BUILD} AS build

# --- a Kafka-protocol broker: tansu, as .ci/run installs it on CI's machine ---------------------
FROM ${RUST_IMAGE} AS tansu-build-source
ARG TANSU_VERSION=0.6.0
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo install tansu --version "${TANSU_VERSION}" --locked --features dynostore \
        --root /out

# ... or the one scripts/kafka.sh installed on the host (TANSU_BUILD=prebuilt)
FROM ${RUNTIME_IMAGE} AS tansu-build-prebuilt
COPY deploy/prebuilt/tansu /out/bin/tansu

FROM tansu-build-${TANSU_BUILD} AS tansu-build

FROM ${RUNTIME_IMAGE} AS tansu
RUN groupadd --system --gid 10002 tansu \
    && useradd --system --uid 10002 --gid tansu --no-create-home tansu
COPY --from=tansu-build /out/bin/tansu /usr/local/bin/tansu
USER 10002:10002
EXPOSE 9092
# In-memory storage: the cluster's messages need no durability (every node reads from the
# latest offset). docker-compose.yml sets the advertised address to the service name.
ENV LISTENER_URL=tcp://0.0.0.0:9092 \
    ADVERTISED_LISTENER_URL=tcp://localhost:9092 \
    STORAGE_ENGINE=memory://tansu/
ENTRYPOINT ["/usr/local/bin/tansu"]
CMD ["broker"]

# --- the chat image (the default target, so it comes last) -----------------------------------------
FROM ${RUNTIME_IMAGE} AS chat
RUN groupadd --system --gid 10001 volley \
    && useradd --system --uid 10001 --gid volley --no-create-home volley
COPY --from=build /out/chat /usr/local/bin/chat
COPY examples/chat/public /usr/local/share/volley/chat/public
COPY --from=page /chat/node_modules/socket.io-client/dist \
    /usr/local/share/volley/chat/node_modules/socket.io-client/dist
COPY deploy/common.sh /usr/local/lib/volley/common.sh
# executable in git, and COPY keeps the mode
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# numeric, so that "run as non-root" checks (Kubernetes runAsNonRoot) can verify it
USER 10001:10001
ENV VOLLEY_PORT=3000 \
    VOLLEY_ADAPTER=redis \
    RUST_LOG=info
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=6s --start-period=10s --retries=5 \
    CMD ["/usr/local/bin/docker-entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
