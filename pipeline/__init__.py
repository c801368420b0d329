"""precode: pre-code qualitative interview transcripts against a codebook."""
