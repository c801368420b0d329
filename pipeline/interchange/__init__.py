"""Moving coded data in and out: CSV / JSONL tables (and, later, REFI-QDA and XLSX)."""
