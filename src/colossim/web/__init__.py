"""The web dashboard and HTTP API (``colossim serve``; extra ``colossim[web]``).

Imported only by ``colossim serve``: nothing in the core or ``import colossim`` imports it.
Build the application with :func:`colossim.web.app.create_app`.
"""
