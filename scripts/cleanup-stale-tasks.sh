#!/bin/sh
# Cron entry point for the stale-task rule: cancels open tasks of finished workstreams.
#   scripts/cleanup-stale-tasks.sh [--dry-run]      (needs DATABASE_URL)
set -eu
exec node "$(dirname "$0")/../bin/statehub.js" cleanup-stale-tasks "$@"
