#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (kafka_2.13, KRaft) with their runtime dependencies and a
# logging backend from Maven Central into the rpochaos cache, outside git:
#   ${RPOCHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpochaos}/kafka/<version>/libs
# Idempotent: returns at once when that directory is complete (a stamp file records it).
# Usage: scripts/kafka-jars.sh [VERSION]     (default: the version rpochaos.kafka.jars names)
# Needs: mvn and a JDK >= 17 (Debian: apt-get install -y maven openjdk-17-jre-headless).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VERSION="${1:-${RPOCHAOS_KAFKA_VERSION:-3.9.2}}"
CACHE="${RPOCHAOS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpochaos}"
dest="$CACHE/kafka/$VERSION"
stamp="$dest/libs/.complete"

say() { printf '\033[1m[kafka-jars]\033[0m %s\n' "$*" >&2; }

if [ -f "$stamp" ] && [ -f "$dest/libs/kafka_2.13-$VERSION.jar" ]; then
  exit 0
fi
for tool in mvn java; do
  if ! command -v "$tool" >/dev/null; then
    say "$tool is missing: apt-get install -y maven openjdk-17-jre-headless"; exit 254
  fi
done
mkdir -p "$dest"
# one fetch at a time (parallel set-ups on one machine); re-check once we hold the lock
exec 9>"$dest/.lock"
flock 9
if [ -f "$stamp" ] && [ -f "$dest/libs/kafka_2.13-$VERSION.jar" ]; then
  exit 0
fi
say "fetching Kafka $VERSION jars from Maven Central into $dest/libs"
tmp="$(mktemp -d "$dest/libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
if ! mvn -B -q -Dstyle.color=never -f "$here/kafka/pom.xml" \
  -Dkafka.version="$VERSION" \
  dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$tmp" >"$dest/mvn.log" 2>&1; then
  tail -n 40 "$dest/mvn.log" >&2
  say "mvn failed (full output: $dest/mvn.log)"; exit 1
fi
if [ ! -f "$tmp/kafka_2.13-$VERSION.jar" ]; then
  say "mvn finished but kafka_2.13-$VERSION.jar is not in $tmp"; exit 1
fi
date -u +%FT%TZ > "$tmp/.complete"
rm -rf "$dest/libs"
mv "$tmp" "$dest/libs"
trap - EXIT
say "$(ls "$dest/libs" | wc -l) jars in $(( $(date +%s) - start )) s"
