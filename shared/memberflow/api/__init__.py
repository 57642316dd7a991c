"""HTTP surface: the Powertools resolvers of the webhook and member API functions.

The routes live here (not in ``functions/``) so that one generator
(:mod:`memberflow.api.openapi`) can describe both functions in one OpenAPI document
and the member API can serve it. Handlers in ``functions/*/app.py`` stay thin.
"""
