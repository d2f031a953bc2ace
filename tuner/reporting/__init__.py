"""Results as files and text: charts, plots, tables, the study report, list/show output."""
