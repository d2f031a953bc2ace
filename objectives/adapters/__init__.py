"""The user's own models and data as objectives: scikit-learn-style estimators, plain training
functions, imports from the study folder, and the metrics computed from a returned model."""
