"""Command-line commands of ``python -m fact_runtime``; each module has add_arguments() and run()."""
