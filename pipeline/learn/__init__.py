"""Learning from the codes people applied: training examples, the calibrated model, vectors, reports."""
