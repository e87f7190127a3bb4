#!/bin/bash
# airq instance bootstrap (EC2 user data), rendered by airq-deploy from deploy/templates/user-data.sh.
# Installs the airq binaries from the stack's artifact and runs this instance's role under systemd: restarted on
# failure, stopped with SIGTERM so that a worker drains its jobs in hand. Safe to run again.
# No credentials here: the instance's IAM role provides them.
set -euo pipefail

STACK={{STACK}}
ROLE={{ROLE}}
BINARY={{BINARY}}
AWS_REGION={{REGION}}
ARTIFACT={{ARTIFACT}}
ARTIFACT_SHA256={{ARTIFACT_SHA256}}
readonly STACK ROLE BINARY AWS_REGION ARTIFACT ARTIFACT_SHA256
export AWS_REGION

log() {
  echo "airq-bootstrap[$STACK/$ROLE]: $*" >&2
}

fetch_artifact() {
  local dest=$1
  case "$ARTIFACT" in
    s3://*)
      aws s3 cp --only-show-errors --region "$AWS_REGION" "$ARTIFACT" "$dest"
      ;;
    https://*)
      curl --fail --silent --show-error --location --retry 5 --retry-delay 2 --output "$dest" "$ARTIFACT"
      ;;
    *)
      log "unsupported artifact location: $ARTIFACT"
      return 1
      ;;
  esac
}

install_binaries() {
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the directory is known
  trap "rm -rf '$work'" RETURN
  local attempt
  for attempt in 1 2 3 4 5; do
    if fetch_artifact "$work/airq.tar.gz"; then
      break
    fi
    log "download attempt $attempt failed; retrying"
    sleep $((attempt * 5))
  done
  if [ ! -s "$work/airq.tar.gz" ]; then
    log "could not download $ARTIFACT"
    return 1
  fi
  if [ -n "$ARTIFACT_SHA256" ]; then
    echo "$ARTIFACT_SHA256  $work/airq.tar.gz" | sha256sum --check --strict --quiet
  fi
  install -d -m 0755 /opt/airq
  tar --no-same-owner -xzf "$work/airq.tar.gz" -C /opt/airq
  if [ ! -x "/opt/airq/bin/$BINARY" ]; then
    log "the artifact has no bin/$BINARY"
    return 1
  fi
}

log "installing"
# The standard Amazon Linux 2023 image has these; a slimmer image may not.
tools="tar gzip curl sha256sum"
case "$ARTIFACT" in s3://*) tools="$tools aws" ;; esac
for tool in $tools; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      sha256sum) package=coreutils ;;
      aws) package=awscli-2 ;;
      *) package=$tool ;;
    esac
    log "installing $package"
    dnf install -y --quiet "$package"
  fi
done
install_binaries
if ! id airq >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/airq --create-home --shell /sbin/nologin airq
fi
install -d -m 0750 -o airq -g airq /var/lib/airq
install -d -m 0755 /etc/airq

# The role's settings. systemd reads this file; nothing in it is secret.
cat > /etc/airq/airq.env <<'ENV'
{{ENVIRONMENT}}
ENV

# Gateways: the API keys file, one `NAME sha256:HEX` line per key (hashes only, never a key), readable by the
# service's group and written by root only, so the service cannot change who may use it.
{{API_KEYS}}

cat > "/etc/systemd/system/airq-$ROLE.service" <<'UNIT'
[Unit]
Description=airq {{ROLE}} of stack {{STACK}}
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
User=airq
Group=airq
WorkingDirectory=/var/lib/airq
EnvironmentFile=/etc/airq/airq.env
ExecStart={{EXEC_START}}
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec={{STOP_TIMEOUT_SECS}}
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/airq

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now "airq-$ROLE.service"
log "airq-$ROLE.service started"
