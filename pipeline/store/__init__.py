"""Project storage: SQLite records and the chromadb vector store."""
