"""Agreement between coders: metrics, inputs, reports."""
