"""Tax ingestion: VAT e-invoices over gRPC and CSV/Excel upload."""
