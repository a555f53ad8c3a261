"""Server-rendered web pages (Jinja2 + htmx, no JavaScript build step) on top of the REST API's app.

Pages live under /app/..., static files under /static; `web.routes.install(app)` mounts both (api/app.py calls it).
Every read goes through core/repositories/scoping.py, exactly like the JSON API.
"""
