#!/usr/bin/env bash
# up.sh — the distributed platform on one machine: RabbitMQ and an S3 server (Ceph radosgw) on loopback, and the six
# services as separate processes talking through them. Logs and PIDs in artifacts/up/. Stop with tools/down.sh.
# (No Qdrant server can be installed here: retrieval uses the embedded index under artifacts/up/index.)
set -euo pipefail
cd "$(dirname "$0")/.."
UP="$PWD/artifacts/up"
mkdir -p "$UP/logs" "$UP/pids"
CONFIGURATION="${CONFIGURATION:-Release}"

# Own node name and ports, so the test suite's broker and S3 server can run beside it.
export RABBITMQ_TEST_NODE=landmark-up RABBITMQ_PORT=5674 RABBITMQ_DIST_PORT=25674 S3_PORT=7481 MON_PORT=6790
rabbit_env=$(tools/rabbitmq/start.sh "$UP/rabbitmq") || { echo "RabbitMQ did not start"; exit 1; }
s3_env=$(tools/s3-server/start.sh "$UP/s3") || { echo "the S3 server did not start"; exit 1; }
eval "$rabbit_env"
eval "$s3_env"

dotnet build Landmark.Services.sln -c "$CONFIGURATION" -nologo -clp:ErrorsOnly >/dev/null

declare -A PORT=([ingest]=8180 [preprocess]=8181 [trainer]=8182 [embedder]=8183 [retrieval]=8184 [scorer]=8185)
common=(
  --Landmark:Hosting:ListenOnAnyAddress=false --Landmark:Hosting:HttpPort=0
  --Landmark:Messaging:Transport=RabbitMq --Landmark:Messaging:RabbitMq:Host="$RABBITMQ_HOST"
  --Landmark:Messaging:RabbitMq:Port="$RABBITMQ_PORT" --Landmark:Messaging:RabbitMq:Username="$RABBITMQ_USER"
  --Landmark:Messaging:RabbitMq:Password="$RABBITMQ_PASSWORD"
  --Landmark:Storage:Provider=S3 --Landmark:Storage:S3:Endpoint="$S3_ENDPOINT"
  --Landmark:Storage:S3:AccessKey="$S3_ACCESS_KEY" --Landmark:Storage:S3:SecretKey="$S3_SECRET_KEY"
  --Landmark:Index:Provider=Embedded --Landmark:Index:Embedded:Path="$UP/index"
)
# The services others call by gRPC: ingest (catalog), embedder, retrieval.
for s in ingest embedder retrieval; do common+=("--Landmark:Endpoints:${s^}=http://127.0.0.1:${PORT[$s]}"); done

for s in ingest preprocess trainer embedder retrieval scorer; do
  pidfile="$UP/pids/$s.pid"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$s already running"; continue; fi
  project="Landmark.${s^}"
  setsid dotnet "services/$s/bin/$CONFIGURATION/net10.0/$project.dll" "${common[@]}" --Landmark:Hosting:GrpcPort="${PORT[$s]}" \
    </dev/null >"$UP/logs/$s.log" 2>&1 &
  echo $! >"$pidfile"
done

for s in ingest preprocess trainer embedder retrieval scorer; do
  for _ in $(seq 1 120); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$s]}") 2>/dev/null; then break; fi
    kill -0 "$(cat "$UP/pids/$s.pid")" 2>/dev/null || { echo "$s exited; see $UP/logs/$s.log"; tail -n 20 "$UP/logs/$s.log"; exit 1; }
    sleep 0.5
  done
done
cat <<MSG
Distributed platform up (logs: $UP/logs):
  ingest  127.0.0.1:${PORT[ingest]}   scorer 127.0.0.1:${PORT[scorer]}   trainer 127.0.0.1:${PORT[trainer]}
  RabbitMQ $RABBITMQ_HOST:$RABBITMQ_PORT   S3 $S3_ENDPOINT
Use it from the command line:
  export LANDMARK_INGEST_SERVER=127.0.0.1:${PORT[ingest]} LANDMARK_SCORER_SERVER=127.0.0.1:${PORT[scorer]} LANDMARK_TRAINER_SERVER=127.0.0.1:${PORT[trainer]}
  make evaluate DATASET=../shared/datasets/landmarks-mini SPLIT=val
Stop: make down
MSG
