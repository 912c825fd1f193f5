"""Dataset ingestion, run by the `datasets.ingest` task: the job (`job`), unpacking and checking a zip
(`ingestion`), its folder layout (`layouts`), image checks on a process pool (`image_checks`) and the
summary with its split and warnings (`dataset_summary`)."""
