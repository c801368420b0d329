"""Moving coded data in and out: CSV / JSONL tables, XLSX, and REFI-QDA projects (.qdpx) and codebooks (.qdc)."""
