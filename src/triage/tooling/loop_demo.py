"""`triage loop-demo` (`make loop-demo`): the monitoring loop end to end on this machine, in a scratch clone.

Local S3 and the service on the current model (v1.0.0, dev) → a drifted batch of visits (the simulator's shifted
cohort) → the monitor finds drift → retrain on the labelled extract → gate → register v1.1.0 and promote to dev →
publish → the service reloads and serves the new version. Each step is printed; a summary table ends the run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from triage import config
from triage.errors import ExitCode
from triage.tooling.s3server import LocalS3, free_port
from triage.tooling.service_process import ServiceStartError, start_service, stop_service
from triage_shared.artifacts import ARTIFACT
from triage_shared.pseudonym import DEVELOPMENT_KEY

REPO = Path(__file__).resolve().parents[3]  # src/triage/tooling/loop_demo.py -> the repository
API_KEY = "loop-demo-key-0123456789"
# One key for ingest, the service and the monitor, so visit ids hash alike everywhere. The demo's extracts are all
# simulated, so the public development key is the honest choice; a real deployment sets its own secret.
PSEUDONYM_KEY = DEVELOPMENT_KEY
FAST = {("train", "iterations"): 80, ("evaluate", "bootstrap"): 50, ("export", "parity_rows"): 400,
        # a small cohort has a few dozen orphan test cases: the exact 95 % lower bound of their recall cannot show
        # the product's 0.90 (it needs every one of 37 or more caught); the demo is about the loop, not that bound
        ("gate", "min_orphan_recall_lower"): 0.75}
IDENTITY = {"GIT_AUTHOR_NAME": "triage loop demo", "GIT_AUTHOR_EMAIL": "loop-demo@triage.invalid",
            "GIT_COMMITTER_NAME": "triage loop demo", "GIT_COMMITTER_EMAIL": "loop-demo@triage.invalid"}


class DemoError(RuntimeError):
    pass


@dataclass
class Demo:
    workdir: Path
    visits: int | None
    shift_visits: int
    fast: bool
    rows: list[tuple[str, str, float]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    s3: LocalS3 | None = None
    service: subprocess.Popen | None = None
    url: str = ""

    @property
    def repo(self) -> Path:
        return self.workdir / "repo"

    # --- plumbing ------------------------------------------------------------------------------------------------
    def step(self, title: str, action) -> object:
        number = len(self.rows) + 1
        print(f"\n[{number}] {title} ...", flush=True)
        started = time.perf_counter()
        outcome = action()
        seconds = time.perf_counter() - started
        self.rows.append((title, str(outcome), seconds))
        print(f"[{number}] {title}: {outcome} ({seconds:.1f} s)", flush=True)
        return outcome

    def run(self, command: list[str], ok: tuple[int, ...] = (0,), show: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(command, cwd=self.repo, env=self.env, text=True, capture_output=True)
        log = self.workdir / "commands.log"
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}\n")
        if show:
            print(result.stdout.rstrip(), flush=True)
        if result.returncode not in ok:
            output = (result.stdout + result.stderr)[-3000:]
            raise DemoError(f"`{' '.join(command)}` exited {result.returncode}:\n{output}")
        return result

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=60)

    # --- steps ---------------------------------------------------------------------------------------------------
    def prepare(self) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", str(REPO), str(self.repo)], check=True)
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, **IDENTITY, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
                    "PYTHONPATH": str(self.repo / "src"), "TRIAGE_PSEUDONYM_KEY": PSEUDONYM_KEY}
        params = yaml.safe_load((self.repo / "params.yaml").read_text(encoding="utf-8"))
        if self.visits:
            params["simulate"]["n_visits"] = self.visits
        if self.fast:
            for (section, key), value in FAST.items():
                params[section][key] = value
            params["train"]["baselines"]["forest_trees"] = 30
        (self.repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        self.run(["git", "commit", "-qam", "loop demo: cohort size"], ok=(0, 1))
        return f"{self.repo} ({params['simulate']['n_visits']:,} visits)"

    def pipeline(self) -> str:
        self.run(["dvc", "repro"])
        self.run(["git", "add", "-A"])
        self.run(["git", "commit", "-qm", "loop demo: first model"], ok=(0, 1))
        metrics = json.loads((self.repo / config.METRICS).read_text())["model"]
        return f"macro-F1 {metrics['macro_f1']:.3f}, orphan recall {metrics['orphan_recall']:.3f}"

    def start_s3(self) -> str:
        self.s3 = LocalS3(self.workdir / "s3", free_port(), "triage")
        self.s3.start()
        self.env.update(self.s3.environment())
        os.environ.update(self.s3.environment())  # this process reads the bucket too (waiting for the pushed log)
        for key, value in {"endpointurl": self.s3.endpoint, "access_key_id": self.s3.credentials.access_key,
                           "secret_access_key": self.s3.credentials.secret_key}.items():
            self.run(["dvc", "remote", "modify", "--local", "s3", key, value])
        return f"SeaweedFS at {self.s3.endpoint}, bucket triage"

    def release_first(self) -> str:
        self.run(["dvc", "push", "-r", "s3"])
        self.run(["gto", "register", ARTIFACT, "--version", "v1.0.0"])
        self.run(["gto", "assign", ARTIFACT, "--version", "v1.0.0", "--stage", "dev"])
        self.run(["triage", "publish", "--env", "dev"])
        return f"{ARTIFACT}@v1.0.0 registered, promoted to dev and published"

    def start_service(self) -> str:
        (self.workdir / "service").mkdir(exist_ok=True)
        env = {**self.env, "TRIAGE_ENV": "dev", "TRIAGE_API_KEYS": API_KEY,
               "TRIAGE_LOG_DIR": str(self.workdir / "service"), "TRIAGE_LOG_PUSH_INTERVAL_S": "1",
               "TRIAGE_MAX_BATCH": "1000"}
        try:
            self.service, self.url = start_service(self.repo, env, self.workdir / "service" / "server.log")
        except ServiceStartError as error:
            raise DemoError(str(error)) from error
        return f"serving {self.served_version()} at {self.url}"

    def served_version(self) -> str:
        with self.client() as client:
            return client.get("/v1/model").json()["version"]

    def send_drift(self) -> str:
        extract, requests = self.extract_path, self.workdir / "drift_requests.json"
        self.run(["triage", "simulate-shift", "--visits", str(self.shift_visits), "--seed", "2026",
                  "--extract", str(extract), "--requests", str(requests)])
        body = json.loads(requests.read_text())
        counts: dict[str, int] = {}
        with self.client() as client:
            for start in range(0, len(body["patients"]), 500):
                response = client.post("/v1/predict/batch", json={
                    "patients": body["patients"][start:start + 500], "visit_ids": body["visit_ids"][start:start + 500]})
                if response.status_code != 200:
                    raise DemoError(f"batch refused: {response.status_code} {response.text[:300]}")
                for prediction in response.json()["predictions"]:
                    counts[prediction["triage_class"]] = counts.get(prediction["triage_class"], 0) + 1
        self.sent = len(body["patients"])
        return f"{self.sent} visits of the shifted cohort: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))

    @property
    def extract_path(self) -> Path:
        return self.workdir / "extract_drift_2026-12.csv"

    def monitor(self) -> str:
        self.wait_for_pushed_log()
        result = self.run(["triage", "monitor", "--env", "dev", "--log", "s3://triage/predictions/dev/",
                           "--window", str(self.sent), "--labels", str(self.extract_path),
                           "--out", str(self.workdir / "drift-report")], ok=(ExitCode.OK, ExitCode.DRIFT), show=True)
        if result.returncode != ExitCode.DRIFT:
            raise DemoError("the monitor found no drift in the shifted cohort")
        return f"drift detected (exit {ExitCode.DRIFT.value}), report in {self.workdir / 'drift-report'}"

    def wait_for_pushed_log(self) -> None:
        from triage.monitoring.log_reader import read_lines_s3
        from triage_shared.store import ModelStore

        store = ModelStore.from_env("triage", self.s3.endpoint)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if len(read_lines_s3(store, "dev")[0]) >= self.sent:
                return
            time.sleep(0.5)
        raise DemoError("the service did not push its prediction log to the bucket in 30 s")

    def retrain(self) -> str:
        result = self.run(["triage", "retrain", "--extract", str(self.extract_path), "--push", "s3"],
                          ok=(ExitCode.OK, ExitCode.FAILED_CHECK), show=True)
        if result.returncode == ExitCode.FAILED_CHECK:
            raise DemoError("the retrained model failed the quality gate; nothing was promoted")
        tags = self.run(["git", "tag", "--list", f"{ARTIFACT}@v*"]).stdout.split()
        return f"gate passed; {max(tags)} registered and promoted to dev"

    def publish_and_reload(self) -> str:
        self.run(["triage", "publish", "--env", "dev"])
        with self.client() as client:
            answer = client.post("/admin/reload").json()
        if not answer.get("reloaded"):
            raise DemoError(f"the service refused the new model: {answer}")
        with self.client() as client:
            body = json.loads((self.workdir / "drift_requests.json").read_text())
            lineage = client.post("/v1/predict", json=body["patients"][0]).json()["model"]
        return f"the service now serves {lineage['version']} (sha256 {lineage['sha256'][:12]}…)"

    def stop(self) -> None:
        if self.service:
            stop_service(self.service)
        if self.s3:
            self.s3.stop()

    def summary(self) -> str:
        width = max(len(title) for title, _, _ in self.rows)
        lines = [f"{'step':{width}}  {'seconds':>7}  result", "-" * (width + 60)]
        lines += [f"{title:{width}}  {seconds:7.1f}  {outcome}" for title, outcome, seconds in self.rows]
        lines.append(f"{'total':{width}}  {sum(s for _, _, s in self.rows):7.1f}")
        return "\n".join(lines)


def run_demo(workdir: Path, visits: int | None, shift_visits: int, fast: bool) -> Demo:
    for noisy in ("httpx", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    demo = Demo(workdir, visits, shift_visits, fast)
    try:
        demo.step("scratch clone of the repository", demo.prepare)
        demo.step("dvc repro: the current model", demo.pipeline)
        demo.step("local S3 (SeaweedFS)", demo.start_s3)
        demo.step("register v1.0.0, promote to dev, publish", demo.release_first)
        demo.step("service on the dev model", demo.start_service)
        demo.step("send drifted visits", demo.send_drift)
        demo.step("monitor the dev prediction log", demo.monitor)
        demo.step("retrain on the labelled extract, gate, register", demo.retrain)
        demo.step("publish and reload the service", demo.publish_and_reload)
    finally:
        demo.stop()
    return demo
