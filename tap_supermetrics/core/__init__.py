"""The bottom layer: what every stage shares and nothing else.

Errors with messages a user can act on, the one clock, date windows, the API's hard
limits, the forms of `ds_accounts`, the digests a converted page leaves for the row
memory, and where the schema files are. It imports nothing of the tap's own.
"""
