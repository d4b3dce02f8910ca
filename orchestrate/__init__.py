"""The estate's Meltano jobs as a Dagster code location (docs/running-on-dagster.md).

`meltano_project` reads meltano.yml and needs only PyYAML; `pools` and `definitions`
need Dagster and run in `.venv-dagster` (`scripts/bootstrap --dagster`).
"""
