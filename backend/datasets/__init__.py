"""Data versions: reading CSV/Parquet safely, per-column statistics, and validation rules."""
