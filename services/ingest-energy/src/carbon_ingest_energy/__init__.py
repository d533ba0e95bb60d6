"""Energy ingestion: meter registry, columnar streamed readings, coverage."""
