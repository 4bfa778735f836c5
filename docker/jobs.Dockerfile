# The heavy jobs' image (infra/README.md, "Heavy jobs: EMR Serverless and AWS Batch"): one image for both targets of
# the triage-compute stack. EMR Serverless runs the data stages with it (the application's image configuration) and
# AWS Batch on Fargate runs training with it (job definition: python3.11 /opt/triage/run_job.py <s3:// job spec>).
# The job's own code is not in the image: run_job.py downloads the job spec and the code archive it names (jobs/).
#
# Build from the repository root: docker build --file docker/jobs.Dockerfile --tag triage-jobs .
# (deploy.yml's jobs-image job tags it with a digest of this file, pyproject.toml and run_job.py, and pushes it.)
#
# Base: EMR Serverless's Spark image of the release the application runs (emr_release_label in
# infra/triage_infra/environments.py; change both together). It brings Spark, Hadoop and what EMR Serverless needs
# to run the image. The release label pins Spark (emr-7.11.0: Spark 3.5.6, Amazon Linux 2023); `latest` inside one
# release only moves with that release's security patches, and the pushed tag is immutable.
#
# PySpark: deliberately NOT installed from PyPI. The project pins pyspark 4.x (pyproject.toml, extra `spark`) for its
# local and standalone-cluster runs; EMR 7.x ships Spark 3.5, and the Python side of Spark must match the JVM it
# drives, so the data stages on EMR use EMR's own PySpark 3.5 (/usr/lib/spark/python) under Python 3.11. Spark 4
# only APIs, and pandas 3 / NumPy 2 through Spark 3.5's Arrow conversions, are what a first real run must show
# (infra/README.md, "What only a real account can show").
# hadolint ignore=DL3007
FROM public.ecr.aws/emr-serverless/spark/emr-7.11.0:latest

# root (by uid) to install packages; the image returns to hadoop at the end
USER 0

# Python 3.11 (the project's version; the image's own python3 is 3.9). The package comes from the Amazon Linux 2023
# repository release the base image is locked to, so the base image pins its version.
# hadolint ignore=DL3041
RUN dnf install -y python3.11 python3.11-pip \
    && dnf clean all

# The pipeline's pinned dependencies, exactly as pyproject.toml lists them: the core and the `train` extra (pandas,
# pyarrow, DuckDB, sqlglot, pandera, CatBoost, scikit-learn, ONNX, boto3 through dvc-s3, ...). No pyspark (above).
COPY pyproject.toml /tmp/triage/pyproject.toml
RUN python3.11 -c "import tomllib; p = tomllib.load(open('/tmp/triage/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['train']))" > /tmp/triage/requirements.txt \
    && python3.11 -m pip install --no-cache-dir -r /tmp/triage/requirements.txt \
    && rm -rf /tmp/triage

COPY src/triage/cloud/run_job.py /opt/triage/run_job.py

ENV PYSPARK_PYTHON=/usr/bin/python3.11 \
    PYSPARK_DRIVER_PYTHON=/usr/bin/python3.11 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# EMR Serverless requires the image to end with this user, by name (the base image defines it).
# hadolint ignore=DL3066
USER hadoop:hadoop
