"""What both ingestion services share: atomic Parquet partitions, the drain
switch, request ids, activity events and the erasure worker."""
