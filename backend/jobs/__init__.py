"""Jobs: a queue in SQLite, a manager thread in the server, and worker processes that train."""
