"""The importer: CSV/TSV, Parquet and Excel files into the knowledge store, validated and idempotent."""
