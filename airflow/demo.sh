#!/usr/bin/env bash
# The batch intake on this machine: local SeaweedFS (`triage s3 up`), a working clone with a first model, and a local
# Airflow (api-server, scheduler, dag-processor; SQLite in airflow/home; 127.0.0.1 only) running dags/triage_intake.py.
#
#   airflow/demo.sh up                   prepare (once) and run Airflow in the foreground: http://127.0.0.1:8080
#   airflow/demo.sh extract SITE [bad|reference]
#                                        draw a labelled extract of the shifted cohort and drop it in raw/SITE/
#                                        ("bad": a fifth of its rows broken, over validate.max_bad_fraction;
#                                        "reference": drawn from the training distribution instead)
#   airflow/demo.sh trigger              unpause and trigger triage_intake now (it also runs daily)
#   airflow/demo.sh status               monitoring/intake/latest-run.json
#   eval "$(airflow/demo.sh env)"        the same environment for the airflow CLI in another shell
#
# Why not `airflow standalone`: it starts Airflow's log servers, which listen on every interface (their host is not
# configurable); the demo runs the components standalone runs, with the api-server bound to 127.0.0.1 and
# --skip-serve-logs (every component shares airflow/home/logs on this machine, so nothing needs serving).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin                  # the project's install (dvc, gto, triage): the worker's tools
AF=$ROOT/airflow/.venv/bin           # the Airflow virtualenv (make airflow-setup)
HOME_DIR=$ROOT/airflow/home
CLONE=$ROOT/airflow/work/clone
PORT=${AIRFLOW_DEMO_PORT:-8080}
export PATH=$BIN:$PATH            # as under make: the project's tools first

airflow_env() {
  mkdir -p "$HOME_DIR"
  if [ ! -s "$HOME_DIR/pseudonym.key" ]; then  # the demo's secret key: 0600, git-ignored, never a Variable
    (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_hex(32))' > "$HOME_DIR/pseudonym.key")
  fi
  eval "$("$BIN/triage" s3 env)"
  export AIRFLOW_HOME=$HOME_DIR
  export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor AIRFLOW__CORE__PARALLELISM=2
  export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$PORT AIRFLOW__API__BASE_URL=http://127.0.0.1:$PORT
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$PORT/execution/
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
  export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
  # the two connections, as AIRFLOW_CONN_* variables (a secret backend in production; never in git)
  AIRFLOW_CONN_TRIAGE_S3=$("$BIN/python" -c 'import json, os; print(json.dumps({"conn_type": "aws",
    "login": os.environ["AWS_ACCESS_KEY_ID"], "password": os.environ["AWS_SECRET_ACCESS_KEY"],
    "extra": {"endpoint_url": os.environ["TRIAGE_S3_ENDPOINT"], "region_name": "us-east-1"}}))')
  AIRFLOW_CONN_TRIAGE_PSEUDONYM_KEY=$("$BIN/python" -c 'import json, sys; print(json.dumps({"conn_type": "generic",
    "password": open(sys.argv[1]).read().strip()}))' "$HOME_DIR/pseudonym.key")
  export AIRFLOW_CONN_TRIAGE_S3 AIRFLOW_CONN_TRIAGE_PSEUDONYM_KEY
  export TRIAGE_INTAKE_CLONE=$CLONE TRIAGE_TOOLS_BIN=$BIN
}

prepare() {
  "$BIN/triage" s3 status >/dev/null || "$BIN/triage" s3 up
  airflow_env
  if [ ! -d "$CLONE/.git" ]; then
    echo "working clone: $CLONE (git clone of this repository's HEAD, dvc repro, first model v1.0.0 -> dev)"
    mkdir -p "$(dirname "$CLONE")"
    git clone -q "$ROOT" "$CLONE"
    git -C "$CLONE" config user.name "triage intake (demo worker)"
    git -C "$CLONE" config user.email "triage-intake@localhost"
    for setting in "endpointurl $TRIAGE_S3_ENDPOINT" "access_key_id $AWS_ACCESS_KEY_ID" \
                   "secret_access_key $AWS_SECRET_ACCESS_KEY"; do
      (cd "$CLONE" && "$BIN/dvc" remote modify --local s3 $setting)
    done
    if [ -n "${DEMO_VISITS:-}" ]; then
      (cd "$CLONE" && "$BIN/python" -c 'import sys, yaml; p = yaml.safe_load(open("params.yaml"))
p["simulate"]["n_visits"] = int(sys.argv[1]); yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)' "$DEMO_VISITS"
       git commit -qam "demo: cohort of $DEMO_VISITS visits")
    fi
    (cd "$CLONE" && PATH=$BIN:$PATH dvc repro -q && git add -A && git commit -qm "demo: the first model" \
      && PATH=$BIN:$PATH dvc push -q -r s3 && "$BIN/gto" register triage-model --version v1.0.0 >/dev/null \
      && "$BIN/gto" assign triage-model --version v1.0.0 --stage dev >/dev/null)
  fi
  [ -f "$HOME_DIR/airflow.db" ] || "$AF/airflow" db migrate >/dev/null
}

up() {
  prepare
  local pids=()
  trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
  "$AF/airflow" api-server --host 127.0.0.1 --port "$PORT" > "$HOME_DIR/api-server.log" 2>&1 & pids+=($!)
  "$AF/airflow" scheduler --skip-serve-logs > "$HOME_DIR/scheduler.log" 2>&1 & pids+=($!)
  "$AF/airflow" dag-processor > "$HOME_DIR/dag-processor.log" 2>&1 & pids+=($!)
  for _ in $(seq 60); do
    [ -s "$HOME_DIR/simple_auth_manager_passwords.json.generated" ] && break; sleep 1
  done
  echo "Airflow: http://127.0.0.1:$PORT  user admin, password in $HOME_DIR/simple_auth_manager_passwords.json.generated:"
  cat "$HOME_DIR/simple_auth_manager_passwords.json.generated" 2>/dev/null; echo
  echo "bucket: $TRIAGE_S3_ENDPOINT (s3://$TRIAGE_BUCKET), working clone: $CLONE; logs: $HOME_DIR/*.log"
  echo "drop extracts: airflow/demo.sh extract hospital-norte; run now: airflow/demo.sh trigger; Ctrl-C stops"
  wait -n "${pids[@]}"
}

extract() {
  local site=${1:?usage: airflow/demo.sh extract SITE [bad|reference]} kind=${2:-} visits=${EXTRACT_VISITS:-3000}
  airflow_env
  local file
  file=$(mktemp -d)/${site}_$(date -u +%Y%m%dT%H%M%S).csv
  local flag=""
  if [ "$kind" = reference ]; then flag=--reference; fi
  (cd "$CLONE" && "$BIN/triage" simulate-shift --visits "$visits" --seed "$RANDOM" --extract "$file" \
    --requests "${file%.csv}.json" $flag >/dev/null)
  if [ "$kind" = bad ]; then
    "$BIN/python" -c 'import sys, pandas as pd; f = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
f.loc[f.index % 5 == 0, "age_years"] = "doscientos"; f.to_csv(sys.argv[1], index=False)' "$file"
  fi
  "$AF/triage" intake drop --site "$site" "$file"
}

case "${1:-up}" in
  up) up ;;
  prepare) prepare ;;
  extract) shift; extract "$@" ;;
  trigger) airflow_env; "$AF/airflow" dags unpause triage_intake >/dev/null; "$AF/airflow" dags trigger triage_intake ;;
  status) airflow_env; "$AF/triage" intake status ;;
  env) airflow_env >/dev/null; export -p | grep -E ' (AIRFLOW|TRIAGE_|AWS_)' ;;
  *) echo "usage: airflow/demo.sh up|prepare|extract SITE [bad|reference]|trigger|status|env" >&2; exit 2 ;;
esac
