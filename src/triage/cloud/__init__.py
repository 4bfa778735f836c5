"""Heavy stages on managed cloud compute: `dvc repro` with a compute profile submits a stage's job and waits.

- `settings`: the profile (params `compute.profile`, or $TRIAGE_COMPUTE) and which stage goes to which target.
- `spec`: the job specification, from the stage's own deps and outs in dvc.yaml.
- `store`: the jobs prefix of the bucket: content-addressed inputs, the code, the outputs and their manifest, the log.
- `backends`: EMR Serverless and AWS Batch (profile `aws`), or the local stand-in (profile `standin`: spark-submit
  to the project's standalone Spark cluster, a subprocess for training) that runs the same specification here.
- `submit`: submit, follow the state and the log tail, and on success put the outputs where DVC expects them.
- `job` (and the bootstrap `run_job.py`): what runs inside the job.
"""
