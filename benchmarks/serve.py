"""Serving benchmark: the real server under a bounded wrk load on loopback, plus model-level latencies.

    python benchmarks/serve.py [--seconds 10] [--connections 32]      (make bench-serve; needs `make run` first)

Prints, from one run: req/s, p50 and p99 of POST /v1/predict and of the bare constant GET /healthz on the same
server (the floor) and their ratios; batch rows/s through POST /v1/predict/batch; single-row latency of ONNX Runtime
vs the native CatBoost pipeline; and ONNX Runtime's batch rows/s without HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from triage_shared.predlog import log_file_name

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src")]
API_KEY = "benchmark-key-0123456789"
BATCH_ROWS = 256
PATIENT = {"age_years": 34, "sex": "F", "temperature_c": 38.4, "heart_rate_bpm": 96, "resp_rate_bpm": 18,
           "spo2_pct": 97, "systolic_bp_mmhg": 118, "symptom_days": 3, "comorbidity_count": 0, "sx_fever": 1,
           "sx_cough": 1, "sx_headache": 1, "sx_myalgia": 1, "sx_fatigue": 1}


def start_server(model_dir: Path, workdir: Path) -> tuple[subprocess.Popen, str]:
    from triage.tooling.service_process import start_service

    return start_service(REPO, {"TRIAGE_API_KEYS": API_KEY, "TRIAGE_MODEL_DIR": str(model_dir),
                                "TRIAGE_LOG_DIR": str(workdir), "TRIAGE_MAX_INFLIGHT": "10000",
                                "TRIAGE_MAX_BATCH": "1000"})


def wrk(url: str, path: str, seconds: int, connections: int, body: dict | None, workdir: Path) -> dict:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if body is not None:
        script = workdir / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f'wrk.headers["X-API-Key"] = "{API_KEY}"\nwrk.body = [[{json.dumps(body)}]]\n')
        command += ["-s", str(script)]
    output = subprocess.run([*command, url + path], capture_output=True, text=True, check=True,
                            timeout=seconds + 30).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
            "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
            "errors": int(non_2xx.group(1)) if non_2xx else 0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(process: subprocess.Popen, load) -> tuple[dict, float]:
    """Run a load and return its result with the server's CPU use in cores (1.0 = one core busy throughout)."""
    cpu, started = cpu_seconds(process.pid), time.perf_counter()
    result = load()
    return result, (cpu_seconds(process.pid) - cpu) / (time.perf_counter() - started)


def inference_counters(url: str) -> dict:
    return httpx.get(url + "/v1/stats", headers={"X-API-Key": API_KEY}, timeout=10).json()["inference"]


def model_latencies(model_dir: Path) -> dict:
    import joblib
    import pandas as pd

    from triage import config
    from triage.contract import contract_from_params
    from triage.model.features import feature_matrix
    from triage_shared.onnx import INPUT_NAME
    from triage_shared.onnx import session as onnx_session

    session = onnx_session((model_dir / "model.onnx").read_bytes())  # the service's session, exactly
    pipeline = joblib.load(REPO / "models/pipeline.joblib")["pipeline"]
    contract = contract_from_params(config.load_params(REPO / "params.yaml"))
    x = feature_matrix(pd.read_parquet(REPO / "data/processed/test.parquet").head(10_000), contract)
    timings = {}
    for name, run in (("onnxruntime", lambda r: session.run(["probabilities"], {INPUT_NAME: r})),
                      ("catboost_native", pipeline.predict_proba)):
        for row in x[:50]:
            run(row[None, :])
        started = time.perf_counter()
        for row in x[:2000]:
            run(row[None, :])
        timings[f"{name}_single_row_us"] = (time.perf_counter() - started) / 2000 * 1e6
    started = time.perf_counter()
    session.run(["probabilities"], {"features": x})
    timings["onnxruntime_batch_rows_per_s"] = len(x) / (time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")
    if not (REPO / "models/triage.onnx").exists():
        sys.exit("models/triage.onnx is missing: run `make run` first")
    with tempfile.TemporaryDirectory(prefix="triage-serve-bench-") as directory:
        workdir = Path(directory)
        model_dir = workdir / "model"
        model_dir.mkdir()
        shutil.copy(REPO / "models/triage.onnx", model_dir / "model.onnx")
        shutil.copy(REPO / "models/manifest.json", model_dir / "manifest.json")
        process, url = start_server(model_dir, workdir)
        try:
            floor, floor_cores = measured(process, lambda: wrk(url, "/healthz", args.seconds, args.connections,
                                                               None, workdir))
            before = inference_counters(url)
            predict, predict_cores = measured(process, lambda: wrk(url, "/v1/predict", args.seconds,
                                                                   args.connections, PATIENT, workdir))
            after = inference_counters(url)
            batch, batch_cores = measured(process, lambda: wrk(url, "/v1/predict/batch", args.seconds, 4,
                                                               {"patients": [PATIENT] * BATCH_ROWS}, workdir))
        finally:
            process.terminate()
            process.wait(timeout=20)
        logged = (workdir / log_file_name("dev")).read_bytes().count(b"\n")
        model = model_latencies(model_dir)
    print(f"wrk: 1 thread, {args.connections} connections, {args.seconds} s per endpoint, server: 1 uvicorn worker "
          "(event loop + one inference thread); 'cores' = server CPU time / wall time")
    print(f"GET  /healthz (floor)  {floor['rps']:>9.0f} req/s  p50 {floor['p50_ms']:.2f} ms  "
          f"p99 {floor['p99_ms']:.2f} ms  cores {floor_cores:.2f}")
    print(f"POST /v1/predict       {predict['rps']:>9.0f} req/s  p50 {predict['p50_ms']:.2f} ms  "
          f"p99 {predict['p99_ms']:.2f} ms  cores {predict_cores:.2f}  (non-2xx: {predict['errors']})")
    calls, rows = after["calls"] - before["calls"], after["rows"] - before["rows"]
    print(f"micro-batching: {rows:,} rows in {calls:,} ONNX Runtime calls ({rows / max(calls, 1):.1f} rows per call)")
    print(f"predict / floor: throughput {predict['rps'] / floor['rps']:.2f}x (target >= 0.8), "
          f"p99 {predict['p99_ms'] / floor['p99_ms']:.2f}x (target <= 2)")
    print(f"POST /v1/predict/batch ({BATCH_ROWS} rows, 4 connections): {batch['rps'] * BATCH_ROWS:,.0f} rows/s "
          f"(target >= 100,000), p99 {batch['p99_ms']:.1f} ms, cores {batch_cores:.2f}, non-2xx {batch['errors']}")
    print(f"prediction log lines written during the run: {logged:,}")
    print(f"single row: ONNX Runtime {model['onnxruntime_single_row_us']:.1f} us, native CatBoost pipeline "
          f"{model['catboost_native_single_row_us']:.1f} us "
          f"({model['catboost_native_single_row_us'] / model['onnxruntime_single_row_us']:.1f}x)")
    print(f"ONNX Runtime batch of 10,000 rows, no HTTP: {model['onnxruntime_batch_rows_per_s']:,.0f} rows/s")


if __name__ == "__main__":
    main()
