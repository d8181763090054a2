"""The web dashboard for coaches and admins (FastAPI, server-rendered pages)."""
