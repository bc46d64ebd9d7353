"""`bot dashboard`: a read-only web view of the runs, a live node and the router's decisions
(`server.py`), its JSON views (`views.py`), its token check (`auth.py`) and its pages
(`static/`)."""
