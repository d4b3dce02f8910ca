"""The columns: field types, value conversion, the field list, discovery.

Supermetrics field metadata → JSON Schema, rows → typed records (once, while the page is
at hand), `/query/fields` and the checks built on it, discovery from the cheapest
source, the schema cache between runs, and the lineage column. May import `api` and
below.
"""
