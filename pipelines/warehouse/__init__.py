"""The DuckDB warehouse: schema and migrations, the writer, and the read API."""
