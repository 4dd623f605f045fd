"""The store: the only code that reads or writes SQL. Routers and services call these modules."""
