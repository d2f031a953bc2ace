"""Figures and tables written as files (per-trial charts, study plots, the confusion matrix,
trials CSVs): a library the tracker and the report use; no console output, no pyplot state."""
