"""The HTTP door (issue 19): the app backend's API and the customer portal.

`serve` binds `[portal] listen` itself (a taken port is exit 78 at start) and hands the socket
to a supervised child process, `maildaemon portal`, which runs a Starlette application under
uvicorn: the SMTP event loop never waits on a page, a database read or a template. Everything a
customer submits here becomes a message in the spool, processed by the worker through the same
decision table as mail (submit.py), so a ticket is the same ticket whichever door it came in by.

Modules: app.py (the application and its routes), context.py (what every route shares),
headers.py (security headers on every response), api.py and api_input.py (the app
backend's API and what it reads), login.py (login by a mailed link), submit.py (a
submission as a spooled message, and its outcome), process.py (the child process),
supervisor.py (serve's side).
"""
