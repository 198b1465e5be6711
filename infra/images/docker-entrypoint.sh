#!/bin/sh
# The official node image's entrypoint (docker-library/node): a first argument that is an option
# (or not a command) runs with node, so `docker run IMAGE -e '…'` and `docker run IMAGE app.js` work.
set -e

if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
