"""Services: what the backend does, one module per area (tracking, datasets, jobs, training).

Routes and the job worker call these; they check what the store cannot (names, refs, limits),
orchestrate the store, the files under the home and the ML code, and raise domain errors.
"""
