"""HTTP edge: one router per resource. Readings arrive over gRPC only; HTTP serves probes and docs."""
