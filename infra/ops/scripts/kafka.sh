#!/usr/bin/env bash
# A private Apache Kafka broker (KRaft, one combined broker/controller) on 127.0.0.1 only.
# Usage: kafka.sh start|stop|status|bootstrap|libs|tool NAME [ARGS...]
# `tool` runs one of Kafka's own command-line tools from the same jars: console-consumer,
# console-producer, topics, consumer-groups, get-offsets, or a fully qualified class name.
# There is no Docker engine here: Maven resolves the broker's jars from Maven Central
# (infra/ops/kafka/pom.xml) into a cache once; later starts reuse it. Data lives in $RAPPORT_KAFKA_DIR.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
PORT=${RAPPORT_KAFKA_PORT:-59092}
CONTROLLER_PORT=$((PORT + 1))
DIR=${RAPPORT_KAFKA_DIR:-/tmp/rapport-kafka-$PORT}
VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/kafka/pom.xml")
# The cache is named by the pom's digest too: a dependency added to it is resolved again.
POM_DIGEST=$(sha1sum "$HERE/kafka/pom.xml" | cut -c1-8)
LIBS=${RAPPORT_KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/rapport/kafka-$VERSION-$POM_DIGEST/libs}
HEAP=${RAPPORT_KAFKA_HEAP:-512m}
START_TIMEOUT=${RAPPORT_KAFKA_START_TIMEOUT:-90}

say() { echo "kafka.sh: $*" >&2; }

libs() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  command -v mvn >/dev/null || { say "mvn is needed to fetch the broker's jars"; exit 1; }
  command -v java >/dev/null || { say "java (17+) is needed to run the broker"; exit 1; }
  say "resolving Apache Kafka $VERSION from Maven Central into $LIBS (first run only)"
  local staging="$LIBS.partial.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  mvn -q -B -Dstyle.color=never -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$staging" -DincludeScope=runtime >&2
  touch "$staging/.complete"
  rm -rf "$LIBS"
  mv "$staging" "$LIBS"
}

pid() { cat "$DIR/broker.pid" 2>/dev/null || true; }

running() { local p; p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

answering() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

configure() {
  mkdir -p "$DIR/logs"
  cat > "$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.check.interval.ms=300000
# The log cleaner looks for topics to compact every second (default 15 s): an erasure's
# tombstone on the candidates topic is acted on promptly, and the tests need not wait.
log.cleaner.backoff.ms=1000
PROPS
  cat > "$DIR/log4j2.properties" <<LOG
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $DIR/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
LOG
}

java_args() {
  echo -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$DIR/log4j2.properties"
}

start() {
  if running; then say "already running on 127.0.0.1:$PORT"; return; fi
  libs
  configure
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local cluster
    # A cluster id is 16 random bytes in URL-safe base64; one that starts with "-" would be read
    # as an option (1 time in 64), so draw again until it does not.
    cluster=$(python3 -c "
import base64, uuid
while True:
    cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip('=')
    if not cluster.startswith('-'):
        print(cluster)
        break
")
    # shellcheck disable=SC2046
    java $(java_args) -cp "$LIBS/*" kafka.tools.StorageTool format -t "$cluster" -c "$DIR/server.properties" \
      --standalone >"$DIR/logs/format.log" 2>&1 \
      || { say "formatting the storage failed:"; cat "$DIR/logs/format.log" >&2; exit 1; }
  fi
  : >"$DIR/logs/server.log"
  # shellcheck disable=SC2046
  nohup java $(java_args) -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" \
    >"$DIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$DIR/broker.pid"
  local waited=0
  until answering && grep -q "Kafka Server started" "$DIR/logs/server.log" 2>/dev/null; do
    if ! running; then
      say "the broker exited while starting; last lines of its logs:"
      tail -n 20 "$DIR/logs/stdout.log" "$DIR/logs/server.log" >&2 || true
      exit 1
    fi
    if [ "$waited" -ge "$((START_TIMEOUT * 10))" ]; then
      say "the broker did not answer within ${START_TIMEOUT}s"; stop; exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  say "Apache Kafka $VERSION on 127.0.0.1:$PORT (data in $DIR)"
}

stop() {
  local p waited=0
  p=$(pid)
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    while kill -0 "$p" 2>/dev/null; do
      if [ "$waited" -ge 300 ]; then kill -KILL "$p" 2>/dev/null || true; fi
      sleep 0.1
      waited=$((waited + 1))
    done
  fi
  rm -f "$DIR/broker.pid"
  say "stopped"
}

tool() {
  local name=${1:-} class
  [ -n "$name" ] || { say "usage: $0 tool NAME [ARGS...]"; exit 2; }
  shift
  case "$name" in
    console-consumer) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
    console-producer) class=org.apache.kafka.tools.ConsoleProducer ;;
    topics) class=org.apache.kafka.tools.TopicCommand ;;
    consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    get-offsets) class=org.apache.kafka.tools.GetOffsetShell ;;
    *.*) class=$name ;;
    *) say "unknown tool $name (console-consumer, console-producer, topics, consumer-groups,"\
         "get-offsets, or a class name)"; exit 2 ;;
  esac
  libs
  exec java -Xms32m -Xmx256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HERE/kafka/tools-log4j2.properties" -cp "$LIBS/*" "$class" "$@"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running && answering; then echo "running on 127.0.0.1:$PORT"; else echo "stopped"; exit 1; fi ;;
  bootstrap) echo "127.0.0.1:$PORT" ;;
  libs) libs; echo "$LIBS" ;;
  tool) shift; tool "$@" ;;
  *) echo "usage: $0 start|stop|status|bootstrap|libs|tool NAME [ARGS...]" >&2; exit 2 ;;
esac
