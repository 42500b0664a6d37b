#!/bin/sh
# trunk post_build hook (Trunk.toml): writes the build's file list and content hashes into the
# staged sw.js (www/sw.js explains why). The shell list is every built file except sw.js and
# models/; models are cached when the page first fetches them. Needs sh, find, sort and
# sha256sum (or shasum on macOS).
set -eu
cd "${TRUNK_STAGING_DIR:?run by trunk as a post_build hook}"
[ -f sw.js ] || { echo "stamp-sw: no sw.js in $PWD" >&2; exit 1; }
grep -q '/\*BUILD\*/ null /\*END\*/' sw.js || { echo "stamp-sw: sw.js has no /*BUILD*/ marker" >&2; exit 1; }

if command -v sha256sum >/dev/null 2>&1; then sha="sha256sum"; else sha="shasum -a 256"; fi
# A hash over the listed files' names and contents (the lists are sorted, so it does not depend on
# find's order). Reads one path per line.
digest() { tr '\n' '\0' | xargs -0 -r $sha | $sha | cut -c1-16; }

shell_files=$(find . -type f ! -path ./sw.js ! -path './models/*' | sed 's|^\./||' | LC_ALL=C sort)
model_files=$(find . -type f -path './models/*' | sed 's|^\./||' | LC_ALL=C sort)
# The names go into a JSON string literal unescaped.
case "$shell_files" in *'"'*|*'\'*) echo "stamp-sw: a file name with a quote or backslash" >&2; exit 1 ;; esac
echo "$shell_files" | grep -qx index.html || { echo "stamp-sw: no index.html in the build" >&2; exit 1; }

shell_hash=$(printf '%s' "$shell_files" | digest)
models_hash=$(printf '%s' "$model_files" | digest)
files=$(printf '%s\n' "$shell_files" | sed 's/.*/"&"/' | paste -sd, -)
build="{\"shell\": \"$shell_hash\", \"models\": \"$models_hash\", \"files\": [$files]}"

awk -v build="$build" 'BEGIN { m = "/*BUILD*/ null /*END*/" }
  { i = index($0, m); if (i) $0 = substr($0, 1, i - 1) build substr($0, i + length(m)); print }' sw.js > sw.js.tmp
mv sw.js.tmp sw.js
echo "stamp-sw: shell $shell_hash ($(printf '%s\n' "$shell_files" | wc -l | tr -d ' ') files), models $models_hash"
