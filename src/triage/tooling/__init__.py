"""Local tooling: the S3-compatible server on loopback, the service as a process, and the loop demo."""
