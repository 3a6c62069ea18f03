# One image for every state-hub process (migrate, api, pump); docker-compose.yml picks the
# command. The CLI runs the TypeScript sources through tsx, which is a runtime dependency in
# package.json, so `npm ci --omit=dev` keeps everything the processes need and there is no
# build step. migrations/ and sql/ are read at run time by `statehub migrate`.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Dependencies first, so editing the sources does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY sql ./sql
COPY tsconfig.json ./

# tsx keeps its compile cache under the temp directory, which the node user can write.
USER node

# docker-compose.yml sets the command per service, e.g. node bin/statehub.js pump.
CMD ["node", "bin/statehub.js", "help"]
