"""The standalone prediction replica (`mlops serve NAME@ALIAS`): serves one alias from a model it
downloads from the backend, follows the alias, ships its monitoring records back in batches."""
