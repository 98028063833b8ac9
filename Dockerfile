# ppissuer container image.
#   docker build -t ppissuer .
#   docker run -p 8080:8080 -v ppissuer-data:/var/lib/ppissuer ppissuer
# Settings come from PPISSUER_* environment variables (`ppissuer serve --help`).
# deploy/README.md covers replicas, Redis and key rotation.

# ---- build stage: compile with the Debian development packages -------------
FROM debian:bookworm AS build

RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		build-essential pkg-config \
		libssl-dev libmicrohttpd-dev libjansson-dev libsodium-dev \
		liblmdb-dev libhiredis-dev libcurl4-openssl-dev \
	&& rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY Makefile ./
COPY scripts/deps.sh scripts/
COPY base/ base/
COPY crypto/ crypto/
COPY keys/ keys/
COPY issuer/ issuer/
COPY api/ api/
COPY program/ program/

# The packages above are all the build needs; a stamp newer than
# scripts/deps.sh keeps the Makefile from running it (it adds the test tools).
RUN mkdir -p build \
	&& touch build/.deps-ok \
	&& make -j"$(nproc)" \
	&& make install DESTDIR=/out PREFIX=/usr/local \
	&& strip --strip-unneeded /out/usr/local/bin/ppissuer \
	&& /out/usr/local/bin/ppissuer version

# ---- runtime stage: the shared libraries and the binary, nothing else -------
FROM debian:bookworm-slim

RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		libssl3 libmicrohttpd12 libjansson4 libsodium23 liblmdb0 libhiredis0.14 libcurl4 \
	&& apt-get clean \
	&& rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
	&& groupadd --system --gid 10001 ppissuer \
	&& useradd --system --uid 10001 --gid ppissuer --no-create-home \
		--home-dir /var/lib/ppissuer --shell /usr/sbin/nologin ppissuer \
	&& install -d -m 0700 -o ppissuer -g ppissuer /var/lib/ppissuer

COPY --from=build /out/usr/local/bin/ppissuer /usr/local/bin/ppissuer
COPY deploy/healthcheck.sh /usr/local/bin/ppissuer-healthcheck

# Listen on every interface inside the container; publish the port to choose
# who can reach it.  Client (attester) authentication is on by default.
ENV PPISSUER_LISTEN=0.0.0.0:8080 \
	PPISSUER_DATA_DIR=/var/lib/ppissuer \
	PPISSUER_REQUIRE_AUTH=true

# Keys, clients and the LMDB spent-token store.  A new named volume takes the
# directory's owner (10001) and mode (0700) from the image.
VOLUME ["/var/lib/ppissuer"]
WORKDIR /var/lib/ppissuer
# Numeric, so a platform can check "non-root" without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080

# /healthz answers 200 while the process serves.  The first probe comes one
# interval after the start, long after the first key is made.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
	CMD ["/usr/local/bin/ppissuer-healthcheck"]

# Exec form: the server is PID 1 and gets SIGTERM itself, finishes in-flight
# requests and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ppissuer"]
CMD ["serve"]
