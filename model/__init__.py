"""What Fraværsradar knows: calendar, data contract, store, as-of features, labels, rules,
the estimator and its reasons. Nothing in here imports FastAPI or MLflow.
"""
