# syntax=docker/dockerfile:1
# Node 22: the container uses the newest Node line the package is tested on (see README).
# Build: docker build -t webrtc-oneway .
# Run:   docker run --rm -p 3000:3000 -p 40000-40099:40000-40099/udp \
#          -e ICE_PORT_MIN=40000 -e ICE_PORT_MAX=40099 -e ICE_ANNOUNCED_ADDRESSES=<host IP> webrtc-oneway

FROM node:22-bookworm-slim AS build
# python3, make, g++: node-gyp builds the optional native SRTP addon (native/srtp, an npm
# workspace) during npm ci; without them the build is skipped and the JS SRTP is used.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci
COPY tsconfig.json tsconfig.client-types.json nest-cli.json ./
COPY src ./src
# The Nest packages, socket.io and friends are peer dependencies of the package (the host
# app's copies are used when embedded) and dev dependencies here, so a plain
# `npm prune --omit=dev` would remove them: the standalone service keeps them, at the
# versions the lockfile pins.
RUN npm run build \
  && node -e 'const fs=require("fs");const p=require("./package.json");for(const n of Object.keys(p.peerDependencies)){if(p.peerDependenciesMeta?.[n]?.optional)continue;p.dependencies[n]=p.devDependencies[n];delete p.devDependencies[n];}fs.writeFileSync("package.json",JSON.stringify(p,null,2))' \
  && npm prune --omit=dev --ignore-scripts

FROM node:22-bookworm-slim AS runtime
# ffmpeg: RTSP and file ingest; tini: PID 1 that forwards signals and reaps children.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production PORT=3000 HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# node_modules/webrtc-oneway-srtp is a link to the workspace: the built addon lives there.
COPY --from=build /app/native ./native
COPY --from=build /app/dist ./dist
COPY assets ./assets
COPY public ./public
USER node
EXPOSE 3000
# Node's own fetch: no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# Exec form: SIGTERM reaches Node, which closes every session before exiting. Semi-spaces of
# 2 MB: V8's young generation otherwise grows to 16 MB each under the fan-out's allocation rate
# and stays committed (README, "Cost per viewer"; a start-up flag, it cannot be set later).
CMD ["node", "--max-semi-space-size=2", "dist/main.js"]
